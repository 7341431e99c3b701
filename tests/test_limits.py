"""
Unit tests for L{chatroom.limits}: token buckets, the login throttle,
connection limits (IPv6 by /64), the budget and deadline of connections
not logged in yet, the outgoing buffer bound, and how the server applies
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
    TokenBucket, addressKey, isLoopback, pendingBytes,
)
from chatroom.protocol import encode
from chatroom.server import ChatFactory
from chatroom.tap import Options
from tests.support.fakes import connectFrames, connectLines, frame, makeService, readFrames, readLines


# Addresses.


def test_addressKeyGroupsIPv6By64():
    """
    IPv4 addresses are their own key; IPv6 addresses are counted by their
    /64 (one host may use all of it), an IPv4-mapped one as the IPv4
    address, a zone dropped.
    """
    assert addressKey("203.0.113.5") == "203.0.113.5"
    assert addressKey("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert addressKey("2001:DB8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert addressKey("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert addressKey("::ffff:203.0.113.5") == "203.0.113.5"
    assert addressKey("fe80::1%eth0") == "fe80::/64"
    assert addressKey("not an address") == "not an address"
    assert addressKey(None) is None
    assert isLoopback("::1") and isLoopback("127.0.0.2") and isLoopback("::ffff:127.0.0.1")
    assert not isLoopback("2001:db8::1")


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


def test_failuresKeyedByNameAndAddress():
    """
    Ten failed logins for alice from one address stop alice there, not bob
    from the same address, nor alice from another address.
    """
    clock, t = throttle()
    for _ in range(10):
        fail(t, "203.0.113.5", "alice")
    with pytest.raises(errors.RateLimited) as caught:
        succeed(t, "203.0.113.5", "alice")
    assert caught.value.extra["retry_after"] == 10000
    succeed(t, "203.0.113.5", "bob")
    succeed(t, "198.51.100.7", "alice")
    # The backstop has 90 tokens left: a second address may fail too.
    fail(t, "198.51.100.8", "alice")


def test_backstopAtItsOwnRate():
    """
    Once the per-name backstop is spent by failures from several addresses,
    an address that failed for that name gets in again at the backstop's
    own rate (its own bucket refills far slower here); an address without
    a failure of its own gets in at once.
    """
    clock, t = throttle(loginFailures=Rate(5, 0.001), addressFailures=None, nameFailures=Rate(4, 0.5))
    for n in range(2):
        for _ in range(2):
            fail(t, "203.0.113.%d" % (n,), "alice")
    with pytest.raises(errors.RateLimited) as caught:
        succeed(t, "203.0.113.0", "alice")
    assert caught.value.extra["retry_after"] == 2000
    clock.advance(2)
    fail(t, "203.0.113.0", "alice")
    with pytest.raises(errors.RateLimited) as caught:
        succeed(t, "203.0.113.1", "alice")
    assert caught.value.extra["retry_after"] == 2000
    # A place that has not failed is not held back, and the real user's
    # success costs nothing.
    succeed(t, "198.51.100.7", "alice")
    clock.advance(2)
    fail(t, "203.0.113.1", "alice")
    # Bob's backstop is his own.
    fail(t, "203.0.113.0", "bob")


def test_failureWhileBackstopSpentEmptiesOwnBucket():
    """
    While the backstop is spent, an address let through because it had no
    failure of its own loses its whole bucket when it fails: it then waits
    for a full refill (or the backstop, if sooner).
    """
    clock, t = throttle(loginFailures=Rate(10, 0.1), addressFailures=None, nameFailures=Rate(2, 0.001))
    fail(t, "203.0.113.1", "alice")
    fail(t, "203.0.113.2", "alice")
    fail(t, "203.0.113.3", "alice")
    with pytest.raises(errors.RateLimited) as caught:
        succeed(t, "203.0.113.3", "alice")
    assert caught.value.extra["retry_after"] == 100000
    # Without the backstop spent, one failure costs one token.
    with pytest.raises(errors.RateLimited) as caught:
        succeed(t, "203.0.113.1", "alice")
    assert caught.value.extra["retry_after"] == 10000


def test_knownGoodPassesTheAddressBucket():
    """
    Someone spraying guesses over many names from a shared address empties
    its per-address bucket; a user who logged in from there before still
    gets in (and the backstop does not stop them either), a newcomer waits.
    """
    clock, t = throttle(loginFailures=Rate(3, 0.01), addressFailures=Rate(5, 0.01), nameFailures=Rate(5, 0.01))
    succeed(t, "203.0.113.5", "alice")
    assert t.isKnownGood("203.0.113.5", "alice")
    assert not t.isKnownGood("198.51.100.7", "alice")
    for i in range(5):
        fail(t, "203.0.113.5", "user%d" % (i,))
    with pytest.raises(errors.RateLimited):
        succeed(t, "203.0.113.5", "newcomer")
    succeed(t, "203.0.113.5", "alice")
    # Alice's own typo costs her own bucket only.
    fail(t, "203.0.113.5", "alice")
    for n in range(5):
        try:
            fail(t, "198.51.100.%d" % (n,), "alice")
        except errors.RateLimited:
            pass
    succeed(t, "203.0.113.5", "alice")
    # Forgotten after a month.
    clock.advance(31 * 86400)
    assert not t.isKnownGood("203.0.113.5", "alice")


def test_registrationIsKnownGood():
    clock, t = throttle()
    with t.register("203.0.113.5", "alice"):
        pass
    assert t.isKnownGood("203.0.113.5", "alice")
    with pytest.raises(errors.AuthFailed):
        with t.attempt("203.0.113.6", "bob"):
            raise errors.AuthFailed()
    assert not t.isKnownGood("203.0.113.6", "bob")


def test_throttleGroupsIPv6By64():
    """
    Failures from two addresses of one /64 count as from one address, for
    the (name, address) pair and the address alike; another /64 is another
    address.  Registrations too.
    """
    clock, t = throttle(loginFailures=Rate(2, 0.01), addressFailures=Rate(3, 0.01), registrations=Rate(2, 0.01))
    fail(t, "2001:db8:1:2::1", "alice")
    fail(t, "2001:db8:1:2::ffff", "alice")
    with pytest.raises(errors.RateLimited):
        succeed(t, "2001:db8:1:2:abcd::9", "alice")
    succeed(t, "2001:db8:1:3::1", "alice")
    fail(t, "2001:db8:1:2::7", "bob")
    with pytest.raises(errors.RateLimited):
        succeed(t, "2001:db8:1:2::8", "carol")
    with t.register("2001:db8:9:9::1", "d1"):
        pass
    with t.register("2001:db8:9:9::2", "d2"):
        pass
    with pytest.raises(errors.RateLimited):
        t.register("2001:db8:9:9::3", "d3")
    with t.register("2001:db8:9:a::1", "d4"):
        pass


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


def test_connectionLimiterGroupsIPv6By64():
    limiter = ConnectionLimiter(0, 2)
    assert limiter.admit(object(), "2001:db8:1:2::1") is None
    assert limiter.admit(object(), "2001:db8:1:2::2") is None
    assert "your address" in limiter.admit(object(), "2001:db8:1:2:ffff::3")
    assert limiter.admit(object(), "2001:db8:1:3::1") is None
    assert limiter.admit(object(), "203.0.113.5") is None


def test_preLoginBudget():
    """
    Connections not logged in yet have their own limits, in total and per
    address; one that logs in (or goes) makes room.
    """
    limiter = ConnectionLimiter(0, 0, maxPreLogin=3, maxPreLoginPerAddress=2)
    a, b, c, d, e = (object() for _ in range(5))
    assert limiter.admit(a, "203.0.113.5") is None
    assert limiter.admit(b, "203.0.113.5") is None
    assert "waiting to log in (2)" in limiter.admit(c, "203.0.113.5")
    assert limiter.admit(c, "198.51.100.7") is None
    assert "waiting to log in (3)" in limiter.admit(d, "198.51.100.8")
    limiter.loggedIn(a)
    limiter.loggedIn(a)
    assert limiter.preLogin == 2 and limiter.total == 3
    assert limiter.admit(d, "203.0.113.5") is None
    assert "waiting to log in" in limiter.admit(e, "203.0.113.5")
    limiter.release(b)
    limiter.release(a)
    assert limiter.preLogin == 2 and limiter.total == 2
    assert limiter.admit(e, "203.0.113.5") is None


def test_preLoginLoopback():
    """
    Loopback is exempt from the per-address budget (unless
    --limit-loopback), not from the total.
    """
    limiter = ConnectionLimiter(0, 0, maxPreLogin=3, maxPreLoginPerAddress=1)
    assert limiter.admit(object(), "127.0.0.1") is None
    assert limiter.admit(object(), "::1") is None
    assert limiter.admit(object(), "127.0.0.1") is None
    assert "waiting to log in (3)" in limiter.admit(object(), "127.0.0.1")
    limiter = ConnectionLimiter(0, 0, limitLoopback=True, maxPreLoginPerAddress=1)
    assert limiter.admit(object(), "127.0.0.1") is None
    assert "waiting to log in (1)" in limiter.admit(object(), "127.0.0.1")


def test_connectionsFromOneIPv6NetworkRefused():
    """
    Over the protocol, on C{StringTransport}s with C{IPv6Address} peers:
    the per-address limits count a /64 as one address.
    """
    service = makeService(limits=Limits(maxPerAddress=2, maxPreLoginPerAddress=0))
    connectFrames(service, peer="2001:db8:1:2::a")
    connectLines(service, peer="2001:db8:1:2::b")
    protocol, transport = connectFrames(service, peer="2001:db8:1:2:c::c")
    [reply] = readFrames(transport)
    assert reply == {
        "type": "error", "code": "unavailable",
        "message": "too many connections from your address (2), try again later",
    }
    assert transport.disconnecting
    protocol, transport = connectFrames(service, peer="2001:db8:1:3::a")
    protocol.dataReceived(frame({"type": "ping", "id": 1}))
    assert readFrames(transport) == [{"type": "ok", "id": 1}]


def test_preLoginConnectionsRefused():
    """
    A connection over the budget of connections not logged in is refused
    as the other connection limits are; a connection that logs in leaves
    the budget.
    """
    service = makeService(limits=Limits(maxPreLoginPerAddress=2))
    first, _ = connectFrames(service, peer="2001:db8::1")
    connectFrames(service, peer="2001:db8::2")
    protocol, transport = connectFrames(service, peer="2001:db8::3")
    [reply] = readFrames(transport)
    assert reply["code"] == "unavailable"
    assert reply["message"] == (
        "too many connections from your address waiting to log in (2), log in on those first")
    assert transport.disconnecting
    first.session.markLoggedIn()
    assert service.sessions.limiter.connections.preLogin == 1
    protocol, transport = connectFrames(service, peer="2001:db8::4")
    protocol.dataReceived(frame({"type": "ping", "id": 1}))
    assert readFrames(transport) == [{"type": "ok", "id": 1}]

    service = makeService(limits=Limits(maxPreLogin=1))
    connectLines(service)
    protocol, transport = connectLines(service)
    [reply] = readLines(transport)
    assert reply["message"] == "too many connections waiting to log in (1), try again later"


# The login deadline.


def test_notLoggedInInTimeClosed():
    """
    A connection that has not logged in within the login timeout gets an
    C{unavailable} error saying so and is closed, however often it sent
    C{ping} meanwhile; one that logged in stays.
    """
    service = makeService(limits=Limits(loginTimeout=30))
    clock = service.reactor
    protocol, transport = connectFrames(service)
    loggedIn, loggedInTransport = connectFrames(service)
    loggedIn.session.markLoggedIn()
    for i in range(5):
        clock.advance(5)
        protocol.dataReceived(frame({"type": "ping", "id": i}))
    assert not transport.disconnecting
    assert [r["type"] for r in readFrames(transport)] == ["ok"] * 5
    clock.advance(5)
    # Swept every 5 s: closed between 30 and 35 s after it opened.
    clock.advance(5)
    assert readFrames(transport) == [{
        "type": "error", "code": "unavailable",
        "message": "not logged in within 30 seconds, closing the connection",
    }, {"type": "bye", "reason": "idle"}]
    assert transport.disconnecting
    assert not loggedInTransport.disconnecting
    protocol.connectionLost(None)
    assert service.sessions.waitingForLogin() == 0
    assert service.sessions.limiter.connections.preLogin == 0


def test_notLoggedInDebugPort():
    service = makeService(limits=Limits(loginTimeout=2))
    protocol, transport = connectLines(service)
    service.reactor.advance(1)
    protocol.dataReceived(b'{"type": "ping"}\n')
    service.reactor.advance(1.5)
    assert readLines(transport)[-2:] == [
        {"type": "error", "code": "unavailable", "message": "not logged in within 2 seconds, closing the connection"},
        {"type": "bye", "reason": "idle"}]
    assert transport.disconnecting


class UnreadTransport(StringTransport):
    """
    A transport whose peer reads nothing: closing waits for ever, only an
    abort closes it.
    """

    aborted = False

    def loseConnection(self):
        self.disconnecting = True

    def abortConnection(self):
        self.aborted = True


def test_notLoggedInAndNotReadingAborted():
    """
    A connection still there at the sweep after it was told (its client
    reads nothing, so the close waits) is aborted.
    """
    service = makeService(limits=Limits(loginTimeout=8))
    protocol = ChatFactory(service.sessions, service.maxFrame).buildProtocol(None)
    transport = UnreadTransport()
    protocol.makeConnection(transport)
    service.reactor.advance(8)
    assert transport.disconnecting and not transport.aborted
    service.reactor.advance(2)
    assert transport.aborted


def test_noLoginTimeout():
    service = makeService(limits=Limits(loginTimeout=0, idleTimeout=0))
    protocol, transport = connectFrames(service)
    service.reactor.advance(10 ** 6)
    assert not transport.disconnecting
    assert service.reactor.getDelayedCalls() == []


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
    # The last frame written says why (a client this far behind rarely
    # reads it).
    assert transport.value().endswith(encode({"type": "bye", "reason": "slow"}))


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
    assert limits.loginFailures == Rate(10, 0.1)
    assert limits.addressFailures == Rate(50, 0.5)
    assert limits.nameFailures == Rate(100, 0.02)
    assert limits.maxPreLogin == 1000
    assert limits.maxPreLoginPerAddress == 10
    assert limits.loginTimeout == 30
    assert limits.maxGroupsPerUser == 500
    assert limits.maxGroupMembers == 10000
    assert not limits.limitLoopback


def test_options():
    options = Options()
    options.parseOptions([
        "--idle-timeout", "30", "--max-buffer", "65536", "--send-limit", "5/1",
        "--request-limit", "none", "--login-limit", "3/0.05", "--address-login-limit", "20/1",
        "--user-login-limit", "50/2", "--register-limit", "none", "--max-connections", "10",
        "--max-per-address", "3", "--limit-loopback", "--max-prelogin", "50",
        "--max-prelogin-per-address", "0", "--login-timeout", "7.5", "--max-groups-per-user", "20",
        "--max-group-members", "0",
    ])
    assert options.limits() == Limits(
        idleTimeout=30, maxBuffer=65536, sends=Rate(5, 1), requests=None,
        loginFailures=Rate(3, 0.05), addressFailures=Rate(20, 1), nameFailures=Rate(50, 2),
        registrations=None, maxConnections=10, maxPerAddress=3, limitLoopback=True,
        maxPreLogin=50, maxPreLoginPerAddress=0, loginTimeout=7.5, maxGroupsPerUser=20, maxGroupMembers=0,
    )


@pytest.mark.parametrize("argv", [
    ["--send-limit", "30"], ["--request-limit", "1/0"], ["--idle-timeout", "-1"],
    ["--max-buffer", "x"], ["--max-connections", "-5"], ["--login-timeout", "-1"],
    ["--max-prelogin", "x"], ["--max-prelogin-per-address", "-1"], ["--max-groups-per-user", "1.5"],
    ["--max-group-members", "-3"],
])
def test_badOptions(argv):
    from twisted.python import usage

    with pytest.raises(usage.UsageError):
        Options().parseOptions(argv)
