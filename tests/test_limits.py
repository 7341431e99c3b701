"""
Unit tests for L{chatroom.limits}: token buckets, the login throttle,
connection limits, the outgoing buffer bound, and how the server applies
them (on a clock the tests move by hand).
"""

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from chatroom import errors
from chatroom.dispatch import Dispatcher
from chatroom.limits import (
    BucketTable, ConnectionLimiter, Limiter, Limits, LoginThrottle, Rate,
    TokenBucket, pendingBytes,
)
from chatroom.protocol import encode
from chatroom.server import ChatFactory
from chatroom.tap import Options
from tests.support.fakes import connectFrames, connectLines, frame, makeService, readFrames, readLines


# Token buckets.


def test_bucketBurstThenRate():
    """
    A bucket lets C{burst} through at once, then one per 1/rate seconds, and
    says how long to wait meanwhile.
    """
    clock = Clock()
    bucket = TokenBucket(Rate(3, 2), clock)
    assert [bucket.take() for _ in range(3)] == [0, 0, 0]
    assert bucket.take() == pytest.approx(0.5)
    clock.advance(0.25)
    assert bucket.take() == pytest.approx(0.25)
    clock.advance(0.25)
    assert bucket.take() == 0
    assert bucket.take() == pytest.approx(0.5)


def test_bucketNeverFillsPastBurst():
    clock = Clock()
    bucket = TokenBucket(Rate(2, 1), clock)
    clock.advance(1000)
    assert [bucket.take() for _ in range(3)][-1] == pytest.approx(1)


def test_bucketCheckRaisesRetryAfterMilliseconds():
    """
    L{TokenBucket.check} raises C{rate_limited} with C{retry_after} in
    whole milliseconds, rounded up.
    """
    clock = Clock()
    bucket = TokenBucket(Rate(1, 3), clock)
    bucket.check()
    with pytest.raises(errors.RateLimited) as caught:
        bucket.check()
    reply = caught.value.reply(7)
    assert reply["code"] == "rate_limited"
    assert reply["retry_after"] == 334
    assert reply["id"] == 7


def test_rateParse():
    assert Rate.parse("30/10") == Rate(30, 10)
    assert Rate.parse("10/0.1") == Rate(10, 0.1)
    assert Rate.parse("none") is None
    assert Rate.parse("0") is None
    for bad in ("30", "0/1", "5/0", "x/y"):
        with pytest.raises(ValueError):
            Rate.parse(bad)


def test_bucketTableForgetsFullBuckets():
    """
    Buckets that refilled are dropped when the table grows, so keys that
    clients invent do not make memory grow without bound.
    """
    clock = Clock()
    table = BucketTable(Rate(1, 1), clock, maxKeys=5000)
    for i in range(3000):
        table.get(i).take()
        clock.advance(0.01)
    clock.advance(10)
    for i in range(3000, 6000):
        table.get(i)
    assert len(table) < 4000


def test_bucketTableHardCap():
    clock = Clock()
    table = BucketTable(Rate(1, 0.001), clock, maxKeys=2000)
    for i in range(10000):
        table.get(i).take()
    assert len(table) <= 4000


# The login throttle.


def throttle(**limits):
    clock = Clock()
    return clock, LoginThrottle(clock, Limits(**limits))


def fail(throttle, address, name):
    with pytest.raises(errors.AuthFailed):
        with throttle.attempt(address, name):
            raise errors.AuthFailed()


def succeed(throttle, address, name):
    with throttle.attempt(address, name):
        pass


def test_failedLoginsSlowDownGuessing():
    """
    After C{burst} failed logins for one name from one address, the next
    attempt (right password or not) waits.
    """
    clock, t = throttle(loginFailures=Rate(3, 0.5))
    for _ in range(3):
        fail(t, "203.0.113.5", "alice")
    with pytest.raises(errors.RateLimited) as caught:
        succeed(t, "203.0.113.5", "alice")
    assert caught.value.extra["retry_after"] == 2000
    clock.advance(2)
    succeed(t, "203.0.113.5", "alice")


def test_successesCostNothing():
    """
    Successful logins give their token back: a user logging in over and
    over is never throttled.
    """
    clock, t = throttle(loginFailures=Rate(2, 0.01), addressFailures=Rate(2, 0.01), nameFailures=Rate(2, 0.01))
    for _ in range(50):
        succeed(t, "203.0.113.5", "alice")


def test_otherErrorsCostNothing():
    """
    An attempt that fails for another reason than a wrong password
    (storage down) gives its tokens back.
    """
    clock, t = throttle(loginFailures=Rate(1, 0.01))
    for _ in range(3):
        with pytest.raises(errors.Unavailable):
            with t.attempt("203.0.113.5", "alice"):
                raise errors.Unavailable()
    succeed(t, "203.0.113.5", "alice")


def test_perAddressFailures():
    """
    One address guessing many names is slowed down by its own bucket.
    """
    clock, t = throttle(loginFailures=Rate(100, 1), addressFailures=Rate(5, 0.1))
    for i in range(5):
        fail(t, "203.0.113.5", "user%d" % (i,))
    with pytest.raises(errors.RateLimited):
        succeed(t, "203.0.113.5", "someone-else")
    # Another address is not affected.
    succeed(t, "198.51.100.7", "someone-else")


def test_attackerCannotLockOutRealUser():
    """
    Failures for a name from other addresses, however many, never delay a
    login from an address that has not failed itself, even once the
    per-name bucket is spent.
    """
    clock, t = throttle(loginFailures=Rate(3, 0.01), addressFailures=Rate(3, 0.01), nameFailures=Rate(10, 0.01))
    for n in range(20):
        address = "203.0.113.%d" % (n,)
        for _ in range(3):
            try:
                fail(t, address, "张三")
            except errors.RateLimited:
                pass
    succeed(t, "198.51.100.7", "张三")
    succeed(t, "198.51.100.7", "张三")


def test_nameBucketStopsAddressesThatFailed():
    """
    Once the per-name bucket is spent, an address that has failed for that
    name must wait, although its own (name, address) bucket has tokens.
    """
    clock, t = throttle(loginFailures=Rate(5, 0.1), addressFailures=None, nameFailures=Rate(4, 0.01))
    for n in range(4):
        fail(t, "203.0.113.%d" % (n,), "bob")
    with pytest.raises(errors.RateLimited):
        succeed(t, "203.0.113.0", "bob")
    succeed(t, "203.0.113.99", "bob")


def test_concurrentAttemptsCannotOverdraw():
    """
    Attempts in progress hold their token: many parallel guesses from one
    address cannot all start before the first failure is counted.
    """
    clock, t = throttle(loginFailures=Rate(3, 0.01))
    started = [t.attempt("203.0.113.5", "alice") for _ in range(3)]
    with pytest.raises(errors.RateLimited):
        t.attempt("203.0.113.5", "alice")
    assert len(started) == 3


def test_loopbackExemptFromAddressLimits():
    clock, t = throttle(addressFailures=Rate(2, 0.01), registrations=Rate(2, 0.01))
    for i in range(10):
        fail(t, "127.0.0.1", "u%d" % (i,))
        with t.register("127.0.0.1", "n%d" % (i,)):
            pass
    clock, t = throttle(addressFailures=Rate(2, 0.01), limitLoopback=True)
    fail(t, "127.0.0.1", "u1")
    fail(t, "127.0.0.1", "u2")
    with pytest.raises(errors.RateLimited):
        succeed(t, "127.0.0.1", "u3")


def test_registrationsPerAddress():
    clock, t = throttle(registrations=Rate(2, 0.5))
    for name in ("a", "b"):
        with t.register("203.0.113.5", name):
            pass
    with pytest.raises(errors.RateLimited) as caught:
        t.register("203.0.113.5", "c")
    assert caught.value.extra["retry_after"] == 2000


def test_takenNameCountsAsFailure():
    clock, t = throttle(loginFailures=Rate(2, 0.01))
    for _ in range(2):
        with pytest.raises(errors.UserExists):
            with t.register("203.0.113.5", "alice"):
                raise errors.UserExists()
    with pytest.raises(errors.RateLimited):
        t.register("203.0.113.5", "alice")


# Connection limits.


def test_connectionLimiter():
    limiter = ConnectionLimiter(3, 2)
    a, b, c, d = object(), object(), object(), object()
    assert limiter.admit(a, "203.0.113.5") is None
    assert limiter.admit(b, "203.0.113.5") is None
    assert "your address" in limiter.admit(c, "203.0.113.5")
    assert limiter.admit(c, "198.51.100.7") is None
    assert "full" in limiter.admit(d, "198.51.100.8")
    limiter.release(a)
    limiter.release(a)
    assert limiter.total == 2
    assert limiter.admit(d, "203.0.113.5") is None


def test_connectionLimiterLoopback():
    limiter = ConnectionLimiter(0, 1)
    assert limiter.admit(object(), "127.0.0.1") is None
    assert limiter.admit(object(), "127.0.0.1") is None
    assert limiter.admit(object(), "::1") is None
    limiter = ConnectionLimiter(0, 1, limitLoopback=True)
    assert limiter.admit(object(), "127.0.0.1") is None
    assert limiter.admit(object(), "127.0.0.1") is not None


def test_connectionsOverTheLimitRefused():
    """
    A connection over the limit gets an C{unavailable} error saying why and
    is closed, on the main port and on the debug port alike; a closed
    connection makes room again.
    """
    service = makeService(limits=Limits(maxConnections=2))
    first, _ = connectFrames(service)
    connectLines(service)
    protocol, transport = connectFrames(service)
    [reply] = readFrames(transport)
    assert reply["type"] == "error" and reply["code"] == "unavailable"
    assert "full" in reply["message"]
    assert transport.disconnecting
    protocol.dataReceived(frame({"type": "ping", "id": 1}))
    assert transport.value() == b""

    protocol, transport = connectLines(service)
    [reply] = readLines(transport)
    assert reply["code"] == "unavailable"
    assert transport.disconnecting

    first.connectionLost(None)
    protocol, transport = connectFrames(service)
    protocol.dataReceived(frame({"type": "ping", "id": 1}))
    assert readFrames(transport) == [{"type": "ok", "id": 1}]


def test_connectionsPerAddressRefused():
    service = makeService(limits=Limits(maxPerAddress=1))
    connectFrames(service)
    protocol, transport = connectFrames(service)
    [reply] = readFrames(transport)
    assert reply["code"] == "unavailable"
    assert "your address" in reply["message"]


# The request rate per connection.


def test_requestsPerConnectionLimited():
    """
    Requests over the connection's rate get C{rate_limited} with
    C{retry_after} and their id, in order; after the wait they pass again.
    """
    service = makeService(limits=Limits(requests=Rate(3, 2)))
    protocol, transport = connectFrames(service)
    for i in range(5):
        protocol.dataReceived(frame({"type": "ping", "id": i}))
    replies = readFrames(transport)
    assert [r["type"] for r in replies] == ["ok", "ok", "ok", "error", "error"]
    assert [r["id"] for r in replies] == [0, 1, 2, 3, 4]
    assert replies[3]["code"] == "rate_limited"
    assert replies[3]["retry_after"] == 500
    service.reactor.advance(0.5)
    protocol.dataReceived(frame({"type": "ping", "id": 9}))
    assert readFrames(transport) == [{"type": "ok", "id": 9}]
    # Another connection has its own bucket.
    other, otherTransport = connectFrames(service)
    other.dataReceived(frame({"type": "ping", "id": 1}))
    assert readFrames(otherTransport) == [{"type": "ok", "id": 1}]


def test_sendsPerUserLimitedBeforeHandler():
    """
    C{send} and C{group.send} over the user's rate are refused before their
    handler runs (nothing is stored); other requests are not counted.
    """
    clock = Clock()
    limiter = Limiter(clock, Limits(sends=Rate(2, 1), requests=None))
    dispatcher = Dispatcher(limiter)
    calls = []

    class Handler:
        from chatroom.dispatch import handles
        from chatroom.messages import GroupSend, Ping, Send

        @handles(Send)
        def send(self, session, request):
            calls.append(request.text)

        @handles(GroupSend)
        def groupSend(self, session, request):
            calls.append(request.text)

        @handles(Ping)
        def ping(self, session, request):
            pass

    dispatcher.addHandler(Handler())

    class FakeSession:
        user = "alice"

    session = FakeSession()
    import json

    def run(obj):
        return json.loads(dispatcher.dispatch(session, obj))

    assert run({"type": "send", "to": "bob", "text": "你好 👋", "id": 1})["type"] == "ok"
    assert run({"type": "ping"})["type"] == "ok"
    assert run({"type": "group.send", "group": "lobby", "text": "大家好", "id": 2})["type"] == "ok"
    reply = run({"type": "send", "to": "bob", "text": "third", "id": 3})
    assert reply["code"] == "rate_limited" and reply["retry_after"] == 1000 and reply["id"] == 3
    assert calls == ["你好 👋", "大家好"]
    # Another user has their own bucket.
    session.user = "bob"
    assert run({"type": "send", "to": "alice", "text": "hi"})["type"] == "ok"


# The outgoing buffer.


class BufferingTransport(StringTransport):
    """
    A C{StringTransport} that keeps what is written unsent, like a socket
    transport whose peer does not read (same attributes).
    """

    def __init__(self):
        super().__init__(peerAddress=IPv4Address("TCP", "203.0.113.5", 40000))
        self.dataBuffer = b""
        self.offset = 0
        self._tempDataBuffer = []
        self._tempDataLen = 0

    def write(self, data):
        super().write(data)
        self._tempDataBuffer.append(data)
        self._tempDataLen += len(data)


def test_pendingBytes():
    transport = BufferingTransport()
    transport.dataBuffer = b"x" * 100
    transport.offset = 30
    transport.write(b"y" * 5)
    assert pendingBytes(transport) == 75
    assert pendingBytes(StringTransport()) == 0

    class TLS:
        _appSendBuffer = [b"abc"]

    tls = TLS()
    tls.transport = transport
    assert pendingBytes(tls) == 78


def test_slowConsumerDisconnected():
    """
    Once more than C{maxBuffer} bytes wait unread, the next write aborts the
    connection and nothing more is buffered for it.
    """
    service = makeService(limits=Limits(maxBuffer=1000))

    protocol = ChatFactory(service.sessions, service.maxFrame).buildProtocol(None)
    transport = BufferingTransport()
    protocol.makeConnection(transport)
    session = protocol.session
    payload = encode({"type": "message", "text": "字" * 100})
    while not transport.disconnected:
        session.sendPayload(payload)
        assert len(transport.value()) < 1000 + 2 * len(payload)
    written = len(transport.value())
    session.sendPayload(payload)
    assert len(transport.value()) == written


def test_oneLargeReplyOnAnEmptyBufferIsFine():
    """
    The bound is checked before a write: a reply larger than the bound
    (a long history page) still goes out when nothing else waits.
    """
    service = makeService(limits=Limits(maxBuffer=1000))
    protocol = ChatFactory(service.sessions, service.maxFrame).buildProtocol(None)
    transport = BufferingTransport()
    protocol.makeConnection(transport)
    protocol.session.sendPayload(encode({"type": "ok", "text": "😀" * 5000}))
    assert not transport.disconnected


# Options.


def test_optionDefaults():
    """
    The defaults are the documented ones.
    """
    options = Options()
    options.parseOptions([])
    limits = options.limits()
    assert limits == Limits()
    assert limits.idleTimeout == 90
    assert limits.maxBuffer == 1024 * 1024
    assert limits.sends == Rate(30, 10)
    assert limits.requests == Rate(100, 50)
    assert limits.maxConnections == 20000
    assert limits.maxPerAddress == 1000
    assert not limits.limitLoopback


def test_options():
    options = Options()
    options.parseOptions([
        "--idle-timeout", "30", "--max-buffer", "65536", "--send-limit", "5/1",
        "--request-limit", "none", "--login-limit", "3/0.05", "--address-login-limit", "20/1",
        "--user-login-limit", "50/2", "--register-limit", "none", "--max-connections", "10",
        "--max-per-address", "3", "--limit-loopback",
    ])
    assert options.limits() == Limits(
        idleTimeout=30, maxBuffer=65536, sends=Rate(5, 1), requests=None,
        loginFailures=Rate(3, 0.05), addressFailures=Rate(20, 1), nameFailures=Rate(50, 2),
        registrations=None, maxConnections=10, maxPerAddress=3, limitLoopback=True,
    )


@pytest.mark.parametrize("argv", [
    ["--send-limit", "30"], ["--request-limit", "1/0"], ["--idle-timeout", "-1"],
    ["--max-buffer", "x"], ["--max-connections", "-5"],
])
def test_badOptions(argv):
    from twisted.python import usage

    with pytest.raises(usage.UsageError):
        Options().parseOptions(argv)
