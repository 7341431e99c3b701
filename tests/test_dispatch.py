"""
Tests for L{chatroom.dispatch}: the handler registry and the order of checks.
"""

import json

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import globalLogPublisher

from chatroom import errors
from chatroom.dispatch import Dispatcher, handles
from chatroom.messages import REQUESTS, Ping, Users, request
from chatroom.session import Rejected
from tests.support.fakes import makeService


class FakeSession:
    """
    Just enough of a session for the dispatcher.
    """

    def __init__(self, user=None):
        self.user = user
        self.closed = False

    def close(self):
        self.closed = True

    def byeAfterReply(self, reason):
        self.bye = reason
        self.close()


def run(dispatcher, obj, user=None):
    """
    Dispatch C{obj}; the decoded reply (which must be ready at once).
    """
    result = dispatcher.dispatch(FakeSession(user), obj)
    if isinstance(result, Deferred):
        box = []
        result.addCallback(box.append)
        result = box[0]
    return json.loads(result)


@pytest.fixture
def dispatcher():
    return makeService().dispatcher


class PingHandler:
    @handles(Ping)
    def ping(self, session, request):
        return {"pong": True}


def test_refusesTypeTwice():
    """
    Registering a second handler for a request type is an error.
    """
    dispatcher = Dispatcher()
    dispatcher.addHandler(PingHandler())
    with pytest.raises(ValueError, match="ping"):
        dispatcher.addHandler(PingHandler())


def test_requestRegistryRefusesTypeTwice():
    """
    Declaring a second request class for a wire type is an error.
    """
    with pytest.raises(ValueError, match="ping"):
        @request("ping")
        class AnotherPing:
            pass
    assert REQUESTS["ping"] is Ping


def test_everyRequestHasAHandler(dispatcher):
    """
    The service handles every request type of the protocol.
    """
    assert dispatcher.types() == set(REQUESTS) == {
        "register", "login", "logout", "users", "send", "group.create", "group.join",
        "group.leave", "group.list", "group.members", "group.send", "history", "ack", "ping",
        "group.info", "group.set", "group.add", "group.kick", "group.ban", "group.unban", "group.role",
        "group.delete", "group.directory",
        "block", "unblock", "blocks", "password.change", "account.delete", "profile.set", "user.info",
        "admin.ban", "admin.unban",
        "conversations", "typing", "retract", "settings.set",
    }


def test_handlerFields():
    """
    A handler's fields go into the C{ok} reply, after its id.
    """
    dispatcher = Dispatcher()
    dispatcher.addHandler(PingHandler())
    assert run(dispatcher, {"type": "ping", "id": "x"}) == {"type": "ok", "id": "x", "pong": True}


def test_typeBeforeLogin(dispatcher):
    """
    An unknown type is reported as such even before login.
    """
    assert run(dispatcher, {"type": "nope", "to": 1})["code"] == "unknown_type"


@pytest.mark.parametrize("obj", [
    {"type": "logout"},
    {"type": "users", "limit": "many"},
    {"type": "send"},
    {"type": "send", "to": 5, "text": ""},
    {"type": "group.create", "group": "a b"},
    {"type": "group.join"},
    {"type": "group.leave", "group": []},
    {"type": "group.list"},
    {"type": "group.members", "group": None},
    {"type": "group.send", "group": "lobby", "text": "x" * 9000},
    {"type": "history"},
    {"type": "ack", "upto": "nonsense"},
])
def test_loginBeforeFields(dispatcher, obj):
    """
    A request that needs login gets C{not_logged_in} before its fields
    are looked at.
    """
    reply = run(dispatcher, dict(obj, id=1))
    assert reply["code"] == "not_logged_in"
    assert reply["id"] == 1


@pytest.mark.parametrize("obj, field", [
    ({"type": "users", "limit": "many"}, "limit"),
    ({"type": "send"}, "to"),
    ({"type": "send", "to": "bob"}, "text"),
    ({"type": "group.create", "group": "a b"}, "group"),
    ({"type": "group.members", "group": None}, "group"),
    ({"type": "group.send", "group": "lobby", "text": "x" * 9000}, "text"),
    ({"type": "history"}, "with"),
    ({"type": "history", "with": "bob", "group": "lobby"}, "with"),
    ({"type": "ack", "upto": "nonsense", "with": "bob"}, "upto"),
    ({"type": "ack", "upto": "1-0"}, "with"),
])
def test_fieldsAfterLogin(dispatcher, obj, field):
    """
    Once logged in, bad fields get C{bad_request} naming the field (and
    the handler, which would need Redis here, is never called).
    """
    reply = run(dispatcher, dict(obj, id=2), user="alice")
    assert reply["code"] == "bad_request"
    assert "'%s'" % (field,) in reply["message"]


@pytest.mark.parametrize("obj", [
    {"type": "register"},
    {"type": "register", "user": "bob"},
    {"type": "register", "user": "bob", "password": 1},
    {"type": "login", "password": "x"},
    {"type": "login", "user": "", "password": "x"},
])
def test_noLoginNeeded(dispatcher, obj):
    """
    C{register} and C{login} are checked for fields without login.
    """
    assert run(dispatcher, obj)["code"] == "bad_request"


def test_rejectedFrame(dispatcher):
    """
    A L{Rejected} frame is answered with its error; one that closes makes
    the session close.
    """
    session = FakeSession()
    reply = json.loads(dispatcher.dispatch(session, Rejected(errors.TooLarge(), True)))
    assert reply["code"] == "too_large"
    assert session.closed
    assert session.bye == "too_large"


class Failing:
    log = None

    @handles(Ping)
    def ping(self, session, request):
        raise ZeroDivisionError("secret detail")

    @handles(Users)
    async def users(self, session, request):
        await Deferred.fromCoroutine(self._nothing())
        raise KeyError("secret detail")

    async def _nothing(self):
        pass


def test_bugBecomesInternal():
    """
    A handler that fails with anything but a protocol error gives
    C{internal}, with no detail for the client; the failure is logged.
    """
    observer = EventLoggingObserver()
    globalLogPublisher.addObserver(observer)
    try:
        dispatcher = Dispatcher()
        dispatcher.addHandler(Failing())
        for obj in ({"type": "ping", "id": 1}, {"type": "users", "id": 2}):
            reply = run(dispatcher, obj, user="alice")
            assert reply["code"] == "internal"
            assert reply["id"] == obj["id"]
            assert "secret" not in json.dumps(reply)
    finally:
        globalLogPublisher.removeObserver(observer)
    failures = [e for e in observer if "log_failure" in e]
    assert len(failures) == 2
    for event in failures:
        event["log_failure"].trap(ZeroDivisionError, KeyError)


class Raising:
    @handles(Ping)
    async def ping(self, session, request):
        raise errors.NoSuchGroup()


def test_protocolErrorFromCoroutine():
    """
    A protocol error raised by an async handler becomes its error reply.
    """
    dispatcher = Dispatcher()
    dispatcher.addHandler(Raising())
    assert run(dispatcher, {"type": "ping", "id": "r"}) == {
        "type": "error", "id": "r", "code": "no_such_group", "message": "no such group",
    }


class Slow:
    """
    A ping handler that waits for the Deferred the test gives for its id.
    """

    def __init__(self):
        self.waits = {}
        self.started = []

    @handles(Ping)
    async def ping(self, session, request):
        self.started.append(self.current)
        return {"n": await self.waits[self.current]}


class SlowDispatcher(Dispatcher):
    def dispatch(self, session, obj):
        self.slow.current = obj.get("id")
        return super().dispatch(session, obj)


def test_repliesInOrderWithRealDispatcher():
    """
    Through the real dispatcher and session, async handlers whose results
    come back out of order still give replies in request order.
    """
    service = makeService()
    slow = Slow()
    service.dispatcher = SlowDispatcher()
    service.dispatcher.slow = slow
    service.dispatcher.addHandler(slow)
    for rid in range(3):
        slow.waits[rid] = Deferred()

    class Protocol:
        transport = StringTransport()
        sent = []

        def sendPayload(self, payload):
            self.sent.append(json.loads(payload))

    protocol = Protocol()
    session = service.sessions.open(protocol)
    for rid in range(3):
        session.objectReceived({"type": "ping", "id": rid})
    slow.waits[2].callback("c")
    slow.waits[1].callback("b")
    assert protocol.sent == []
    slow.waits[0].callback("a")
    assert protocol.sent == [
        {"type": "ok", "id": 0, "n": "a"}, {"type": "ok", "id": 1, "n": "b"}, {"type": "ok", "id": 2, "n": "c"},
    ]
    assert slow.started == [0, 1, 2]
