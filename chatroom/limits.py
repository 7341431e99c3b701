# -*- test-case-name: tests.test_limits -*-
"""
What one client may cost the server: token buckets for request and message
rates, throttles on password guessing, the bound on a connection's outgoing
buffer, the number of connections in total and per remote address (and of
those not logged in yet), the time a connection has to log in, and the
groups per user and members per group.

Every number here has a default in L{Limits} and an option in
L{chatroom.tap}; C{docs/limits.rst} lists them all.
"""

import attrs

from chatroom import errors, securitylog
from chatroom.buckets import BucketTable, TokenBucket
from chatroom.connections import ConnectionLimiter, addressKey, addressOf, isLoopback, pendingBytes
from chatroom.logins import LoginAttempt, LoginThrottle

__all__ = [
    "Rate", "Limits", "Limiter", "TokenBucket", "BucketTable", "ConnectionLimiter",
    "LoginAttempt", "LoginThrottle", "addressKey", "addressOf", "isLoopback", "pendingBytes",
]


@attrs.frozen
class Rate:
    """
    A token bucket's shape: C{burst} tokens at most, refilled at C{rate}
    tokens per second.
    """

    burst: float
    rate: float

    @classmethod
    def parse(cls, text):
        """
        Parse C{"BURST/RATE"} (for example C{"30/10"}); C{"none"} or C{"0"}
        is no limit, returned as C{None}.

        @raise ValueError: if C{text} is neither.
        """
        text = text.strip().lower()
        if text in ("none", "0", "off"):
            return None
        burst, sep, rate = text.partition("/")
        if not sep:
            raise ValueError("expected BURST/RATE (for example 30/10) or 'none', not %r" % (text,))
        burst, rate = float(burst), float(rate)
        if not (1 <= burst < 1e9 and 0 < rate < 1e9):
            raise ValueError("BURST must be at least 1 and RATE above 0, not %r" % (text,))
        return cls(burst, rate)

    def __str__(self):
        return "%g/%g" % (self.burst, self.rate)


@attrs.frozen
class Limits:
    """
    Every limit the server applies to its clients (C{None} for a rate:
    unlimited; 0 for a count or duration: unlimited).

    @ivar idleTimeout: seconds without a frame from a client after which
        its connection is closed.
    @ivar maxBuffer: bytes a connection may have waiting to be sent before
        another write closes it.
    @ivar sends: C{send} and C{group.send} per user.
    @ivar requests: every request, per connection.
    @ivar loginFailures: failed logins (and registrations of a taken name)
        per user name and remote address: the primary login throttle.
    @ivar addressFailures: the same, per remote address; pairs known good
        (a recent successful login) are not stopped by it.
    @ivar nameFailures: the same, per user name over all addresses, the
        slower backstop; once spent, only addresses without a failure of
        their own (or known good) may try.
    @ivar registrations: C{register} requests per remote address.
    @ivar maxConnections: connections in total.
    @ivar maxPerAddress: connections per remote address.
    @ivar maxPreLogin: connections not logged in yet, in total.
    @ivar maxPreLoginPerAddress: connections not logged in yet, per remote
        address.
    @ivar loginTimeout: seconds a connection has to log in, from its
        start (requests, C{ping} included, do not extend it).
    @ivar limitLoopback: whether the limits keyed by remote address alone
        apply to loopback addresses too.
    @ivar maxGroupsPerUser: groups a user may be in (C{lobby} included):
        C{group.create} and C{group.join} beyond it are refused.
    @ivar maxGroupMembers: members a group may have (C{lobby} excepted):
        C{group.join} beyond it is refused.

    Remote addresses are counted by L{addressKey}: IPv4 by address, IPv6
    by /64.
    """

    idleTimeout: float = 90
    maxBuffer: int = 1024 * 1024
    sends: Rate = Rate(30, 10)
    requests: Rate = Rate(100, 50)
    loginFailures: Rate = Rate(10, 0.1)
    addressFailures: Rate = Rate(50, 0.5)
    nameFailures: Rate = Rate(100, 0.02)
    registrations: Rate = Rate(20, 0.2)
    maxConnections: int = 20000
    maxPerAddress: int = 1000
    maxPreLogin: int = 1000
    maxPreLoginPerAddress: int = 10
    loginTimeout: float = 30
    limitLoopback: bool = False
    maxGroupsPerUser: int = 500
    maxGroupMembers: int = 10000


class Limiter:
    """
    The running state of the L{Limits} of one server.

    @ivar limits: the L{Limits}.
    @ivar logins: the L{LoginThrottle}.
    @ivar connections: the L{ConnectionLimiter}.
    """

    def __init__(self, clock, limits=None):
        self.clock = clock
        self.limits = limits = limits if limits is not None else Limits()
        self._sends = None if limits.sends is None else BucketTable(limits.sends, clock)
        self.logins = LoginThrottle(clock, limits)
        self.connections = ConnectionLimiter(
            limits.maxConnections, limits.maxPerAddress, limits.limitLoopback,
            limits.maxPreLogin, limits.maxPreLoginPerAddress,
        )

    #: The requests that count as sending a message.
    sendTypes = frozenset(("send", "group.send"))

    def requestBucket(self):
        """
        A new connection's bucket for its requests, or C{None}.
        """
        if self.limits.requests is None:
            return None
        return TokenBucket(self.limits.requests, self.clock)

    def checkRequest(self, session):
        """
        Count a request of C{session}.

        @raise errors.RateLimited: if the connection sends requests too fast.
        """
        bucket = getattr(session, "requestBucket", None)
        if bucket is not None:
            try:
                bucket.check()
            except errors.RateLimited as e:
                securitylog.rateLimited(
                    session, addressOf(session), "requests", e.extra.get("retry_after"), self.clock.seconds())
                raise

    def checkSend(self, user, session=None):
        """
        Count a message sent by C{user} (on C{session}, whose address a
        refusal is logged with, if given).

        @raise errors.RateLimited: if C{user} sends too fast.
        """
        if self._sends is not None:
            try:
                self._sends.get(user).check()
            except errors.RateLimited as e:
                if session is not None:
                    securitylog.rateLimited(
                        session, addressOf(session), "sends", e.extra.get("retry_after"), self.clock.seconds())
                raise

    def admit(self, session):
        """
        Count a new connection in; refuse it (an C{unavailable} error, then
        close) if there are too many.
        """
        reason = self.connections.admit(session, addressOf(session))
        if reason is not None:
            session.refuse(errors.Unavailable(reason))

    def loggedIn(self, session):
        """
        C{session} has logged in: it leaves the count of connections
        waiting to.
        """
        self.connections.loggedIn(session)

    def release(self, session):
        """
        A connection is gone.
        """
        self.connections.release(session)
