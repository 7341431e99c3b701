"""
Small fakes for unit tests: a chat service with no Redis behind it, and
protocols connected to a C{StringTransport}.
"""

import json
import struct

from twisted.internet.testing import MemoryReactorClock, StringTransport

from chatroom.server import ChatFactory, ChatService, debugFactory


def makeService(maxFrame=1024, **options):
    """
    A L{ChatService} that is never started: no Redis, no hasher.  Requests
    that need neither (C{ping}, every envelope error) work on it.
    """
    return ChatService(MemoryReactorClock(), None, None, "unit", maxFrame=maxFrame, **options)


class HalfCloseableTransport(StringTransport):
    """
    A C{StringTransport} that can close only its writing side.
    """

    def loseWriteConnection(self):
        self.writeClosed = True


def connectFrames(service):
    """
    A main-port protocol of C{service} on a C{StringTransport}.
    """
    protocol = ChatFactory(service).buildProtocol(None)
    transport = HalfCloseableTransport()
    protocol.makeConnection(transport)
    return protocol, transport


def connectLines(service):
    """
    A debug-port protocol of C{service} on a C{StringTransport}.
    """
    protocol = debugFactory(service).buildProtocol(None)
    transport = HalfCloseableTransport()
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
