"""
Tests for L{chatroom.session}: one request at a time, replies in request
order, backpressure, and closing.
"""

import json
import struct

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from chatroom.errors import TooLarge
from chatroom.protocol import JSONFrameProtocol, encode
from chatroom.session import Rejected, Session


class FakeDispatcher:
    """
    Answers each request with the Deferred the test prepared for its id
    (or at once when there is none), and records the order of dispatch.
    """

    def __init__(self):
        self.pending = {}
        self.dispatched = []

    def dispatch(self, session, obj):
        if isinstance(obj, Rejected):
            if obj.close:
                session.close()
            self.dispatched.append(obj.error.code)
            return encode(obj.error.reply(None))
        rid = obj["id"]
        self.dispatched.append(rid)
        d = self.pending.get(rid)
        if d is None:
            return encode({"type": "ok", "id": rid})
        return d.addCallback(lambda _: encode({"type": "ok", "id": rid}))


class FakeService:
    def __init__(self):
        self.dispatcher = FakeDispatcher()
        self.closed = []
        self.maxFrame = 1024
        self.reactor = Clock()

    def sessionClosed(self, session):
        self.closed.append(session)

    def open(self, protocol):
        return Session(protocol, self.dispatcher, self.reactor, closed=self.sessionClosed)


class FakeProtocol:
    def __init__(self):
        self.transport = StringTransport()
        self.sent = []

    def sendPayload(self, payload):
        self.sent.append(json.loads(payload))


def makeSession():
    service = FakeService()
    protocol = FakeProtocol()
    return service, protocol, service.open(protocol)


def ids(protocol):
    return [reply.get("id") for reply in protocol.sent]


def test_repliesInRequestOrder():
    """
    Handlers whose results come back in the reverse order still give
    replies in request order, and each request starts only after the one
    before it is answered (so it sees its effects).
    """
    service, protocol, session = makeSession()
    pending = service.dispatcher.pending
    for rid in (1, 2, 3):
        pending[rid] = Deferred()
    for rid in (1, 2, 3, 4):
        session.objectReceived({"id": rid})
    assert service.dispatcher.dispatched == [1]
    pending[3].callback(None)
    pending[2].callback(None)
    assert protocol.sent == []
    assert service.dispatcher.dispatched == [1]
    pending[1].callback(None)
    assert ids(protocol) == [1, 2, 3, 4]
    assert service.dispatcher.dispatched == [1, 2, 3, 4]


def test_synchronousRepliesDoNotRecurse():
    """
    Thousands of requests answered at once are handled in a loop, not by
    recursion.
    """
    service, protocol, session = makeSession()
    service.dispatcher.pending[0] = Deferred()
    session.objectReceived({"id": 0})
    for rid in range(1, 5000):
        service.dispatcher.pending[rid] = succeed(None)
        session._queue.append({"id": rid})
    service.dispatcher.pending[0].callback(None)
    assert ids(protocol) == list(range(5000))


def test_backpressure():
    """
    Past C{maxQueued} waiting requests the session stops reading from the
    connection, and reads again once the queue has drained.
    """
    service, protocol, session = makeSession()
    transport = protocol.transport
    first = service.dispatcher.pending[0] = Deferred()
    session.objectReceived({"id": 0})
    for rid in range(1, Session.maxQueued + 1):
        assert transport.producerState == "producing"
        session.objectReceived({"id": rid})
    assert transport.producerState == "paused"
    first.callback(None)
    assert transport.producerState == "producing"
    assert ids(protocol) == list(range(Session.maxQueued + 1))


def test_backpressureQuickReplies():
    """
    When the queue that paused reading is drained by replies that need no
    waiting (pings, errors), reading resumes all the same.
    """
    service, protocol, session = makeSession()
    transport = protocol.transport
    first = service.dispatcher.pending[0] = Deferred()
    session.objectReceived({"id": 0})
    for rid in range(1, 100):
        session.objectReceived({"id": rid})
    assert transport.producerState == "paused"
    first.callback(None)
    assert ids(protocol) == list(range(100))
    assert transport.producerState == "producing"


def test_rejectedInTurn():
    """
    A frame that failed to decode is answered in its turn, after the
    replies to the requests before it.
    """
    service, protocol, session = makeSession()
    first = service.dispatcher.pending[1] = Deferred()
    session.objectReceived({"id": 1})
    session.rejected(TooLarge(), close=True)
    assert protocol.sent == []
    first.callback(None)
    assert [r.get("code", "ok") for r in protocol.sent] == ["ok", "too_large"]
    assert protocol.transport.disconnecting


def test_closeDropsQueued():
    """
    After L{Session.close} (logout, too_large) requests already queued are
    dropped and the connection closes after the current reply.
    """
    service, protocol, session = makeSession()
    first = service.dispatcher.pending[1] = Deferred()
    session.objectReceived({"id": 1})
    session.objectReceived({"id": 2})
    session.close()
    session.objectReceived({"id": 3})
    first.callback(None)
    assert ids(protocol) == [1]
    assert protocol.transport.disconnecting


def test_inputEndedAnswersEverything():
    """
    A client that half-closes gets every reply, then the connection closes.
    """
    service, protocol, session = makeSession()
    first = service.dispatcher.pending[1] = Deferred()
    session.objectReceived({"id": 1})
    session.objectReceived({"id": 2})
    session.inputEnded()
    assert not protocol.transport.disconnecting
    first.callback(None)
    assert ids(protocol) == [1, 2]
    assert protocol.transport.disconnecting


def test_connectionLost():
    """
    A lost connection drops what is queued, writes nothing more and tells
    the service.
    """
    service, protocol, session = makeSession()
    first = service.dispatcher.pending[1] = Deferred()
    session.objectReceived({"id": 1})
    session.objectReceived({"id": 2})
    session.connectionLost()
    assert service.closed == [session]
    first.callback(None)
    assert protocol.sent == []
    assert service.dispatcher.dispatched == [1]


def test_callAfterReply():
    """
    A call registered during a request runs right after its reply is
    written (a login's missed messages come after its ok).
    """
    service, protocol, session = makeSession()
    first = service.dispatcher.pending[1] = Deferred()
    session.objectReceived({"id": 1})
    seen = []
    session.callAfterReply(lambda: seen.append(len(protocol.sent)))
    first.callback(None)
    assert seen == [1]


class OneSessionFactory:
    """
    A factory for a L{JSONFrameProtocol} whose session has the fake
    dispatcher.
    """

    maxFrame = 1024

    def __init__(self):
        self.service = FakeService()

    def openSession(self, protocol):
        self.session = self.service.open(protocol)
        return self.session


def test_oversizeWhileBusyAnsweredOnce():
    """
    An oversize frame that arrives while a request is pending, followed by
    more data, gets one C{too_large} (after the pending reply) and nothing
    is buffered after it.
    """
    factory = OneSessionFactory()
    proto = JSONFrameProtocol()
    proto.factory = factory
    transport = StringTransport()
    proto.makeConnection(transport)
    first = factory.service.dispatcher.pending[1] = Deferred()
    body = json.dumps({"id": 1, "type": "ping"}).encode()
    proto.dataReceived(struct.pack(">I", len(body)) + body)
    proto.dataReceived(struct.pack(">I", 10**6))
    for _ in range(10):
        proto.dataReceived(b"x" * 10000)
    assert factory.service.dispatcher.dispatched == [1]
    first.callback(None)
    assert factory.service.dispatcher.dispatched == [1, "too_large"]
    assert transport.disconnecting
    assert transport.producerState == "paused"
    assert len(proto.recvd) < 10000
