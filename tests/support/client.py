"""
Helpers for the client tests (no tests here): a scripted server end for a
client connected to a L{StringTransport}, and a L{ChatConnection} on a
L{MemoryReactorClock}.
"""

import struct

from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.testing import MemoryReactorClock, StringTransport

from chatroom.client.connection import ChatConnection
from chatroom.protocol import decode, encode, frame


def noJitter(attempt):
    """
    A retry policy without randomness: 1, 2, 4... seconds.
    """
    return float(2 ** (attempt - 1))


class Wire:
    """
    The server's end of one client connection: read what the client sent,
    answer it, push events.
    """

    def __init__(self, protocol, transport):
        self.protocol = protocol
        self.transport = transport

    def sent(self):
        """
        The objects the client wrote since the last call.
        """
        data = self.transport.value()
        self.transport.clear()
        objs = []
        while data:
            (n,) = struct.unpack(">I", data[:4])
            objs.append(decode(data[4 : 4 + n]))
            data = data[4 + n :]
        return objs

    def push(self, obj):
        """
        Deliver one object to the client.
        """
        self.protocol.dataReceived(frame(encode(obj)))

    def ok(self, request, **fields):
        """
        Answer C{request} with C{ok}.
        """
        self.push(dict(fields, type="ok", id=request["id"]))

    def error(self, request, code, message="it failed"):
        """
        Answer C{request} with an C{error}.
        """
        self.push({"type": "error", "id": request["id"], "code": code, "message": message})

    def lose(self):
        """
        The connection drops.
        """
        from twisted.internet.error import ConnectionLost
        from twisted.python.failure import Failure

        self.transport.loseConnection()
        self.protocol.connectionLost(Failure(ConnectionLost("gone")))


class Listener:
    """
    Records what a L{ChatConnection} tells its listener.
    """

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args: self.calls.append((name,) + args)

    def named(self, name):
        return [c[1:] for c in self.calls if c[0] == name]


def makeConnection(listener=None):
    """
    A started L{ChatConnection} on a L{MemoryReactorClock}; call
    L{accept} to complete each connection attempt.
    """
    reactor = MemoryReactorClock()
    listener = listener if listener is not None else Listener()
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", 8889)
    connection = ChatConnection(endpoint, reactor, listener, retryPolicy=noJitter)
    connection.start()
    return reactor, connection, listener


def accept(reactor):
    """
    Complete the latest connection attempt; the server's L{Wire}.
    """
    factory = reactor.tcpClients[-1][2]
    protocol = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    return Wire(protocol, transport)


def refuse(reactor):
    """
    Fail the latest connection attempt.
    """
    from twisted.internet.error import ConnectionRefusedError
    from twisted.python.failure import Failure

    factory = reactor.tcpClients[-1][2]
    factory.clientConnectionFailed(None, Failure(ConnectionRefusedError()))
