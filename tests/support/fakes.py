"""
Small fakes for unit tests: a chat node on the in-memory store and a fake
clock, and protocols connected to a C{StringTransport}.
"""

import json
import struct

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.testing import MemoryReactorClock, StringTransport

from chatroom.server import ChatFactory, debugFactory
from chatroom.service import ChatService
from chatroom.store.memory import MemoryStore


class UnitNode:
    """
    A L{ChatService} on a L{MemoryStore} and a L{MemoryReactorClock}, never
    started and with no hasher: requests that need no password (C{ping},
    every envelope error) work on it.
    """

    def __init__(self, maxFrame=1024, reactor=None, store=None, **options):
        self.reactor = reactor if reactor is not None else MemoryReactorClock()
        self.store = store if store is not None else MemoryStore(self.reactor, "unit")
        self.service = ChatService(self.reactor, self.store, None, "unit", **options)
        self.sessions = self.service.sessions
        self.maxFrame = maxFrame

    @property
    def dispatcher(self):
        """
        The dispatcher sessions opened from now on use.
        """
        return self.sessions.dispatcher

    @dispatcher.setter
    def dispatcher(self, dispatcher):
        self.sessions.dispatcher = dispatcher


def makeService(maxFrame=1024, **options):
    """
    A L{UnitNode}.
    """
    return UnitNode(maxFrame, **options)


class HalfCloseableTransport(StringTransport):
    """
    A C{StringTransport} that can close only its writing side.
    """

    def loseWriteConnection(self):
        self.writeClosed = True


def peerAddress(host, port=40000):
    """
    The C{IPv4Address} or (when C{host} holds C{:}) C{IPv6Address} of a
    TCP peer at C{host}.
    """
    return (IPv6Address if ":" in host else IPv4Address)("TCP", host, port)


def connectFrames(service, peer=None):
    """
    A main-port protocol of C{service} on a C{StringTransport}, whose
    remote address is C{peer} (an IP address as text) if given.
    """
    protocol = ChatFactory(service.sessions, service.maxFrame).buildProtocol(None)
    transport = HalfCloseableTransport() if peer is None else HalfCloseableTransport(peerAddress=peerAddress(peer))
    protocol.makeConnection(transport)
    return protocol, transport


def connectLines(service, peer=None):
    """
    A debug-port protocol of C{service} on a C{StringTransport}, whose
    remote address is C{peer} if given.
    """
    protocol = debugFactory(service.sessions, service.maxFrame).buildProtocol(None)
    transport = HalfCloseableTransport() if peer is None else HalfCloseableTransport(peerAddress=peerAddress(peer))
    protocol.makeConnection(transport)
    return protocol, transport


def frame(obj):
    """
    C{obj} (bytes, or a value to encode as JSON) as a length-prefixed frame.
    """
    if not isinstance(obj, bytes):
        obj = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    return struct.pack(">I", len(obj)) + obj


def readFrames(transport):
    """
    Decode every frame written to C{transport} so far (and clear it).
    """
    data = transport.value()
    transport.clear()
    out = []
    while data:
        assert len(data) >= 4, "a partial length prefix was written"
        (length,) = struct.unpack(">I", data[:4])
        assert len(data) >= 4 + length, "a partial frame was written"
        out.append(json.loads(data[4:4 + length].decode("utf-8")))
        data = data[4 + length:]
    return out


def readLines(transport):
    """
    Decode every line written to C{transport} so far (and clear it).
    """
    data = transport.value()
    transport.clear()
    assert data == b"" or data.endswith(b"\r\n"), "a partial line was written"
    return [json.loads(line) for line in data.decode("utf-8").split("\r\n") if line]


class FakeReactor(MemoryReactorClock):
    """
    A memory reactor with the thread pool that password hashing uses.
    """

    def getThreadPool(self):
        from twisted.python.threadpool import ThreadPool

        return ThreadPool()
