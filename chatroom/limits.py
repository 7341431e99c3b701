# -*- test-case-name: tests.test_limits -*-
"""
What one client may cost the server: token buckets for request and message
rates, throttles on password guessing, the bound on a connection's outgoing
buffer, and the number of connections in total and per remote address.

Every number here has a default in L{Limits} and an option in
L{chatroom.tap}; C{docs/limits.rst} lists them all.
"""

import ipaddress
import math

import attrs
from twisted.logger import Logger

from chatroom import errors


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
        per user name and remote address.
    @ivar addressFailures: the same, per remote address.
    @ivar nameFailures: the same, per user name over all addresses; once
        spent, only addresses without a failure of their own may try.
    @ivar registrations: C{register} requests per remote address.
    @ivar maxConnections: connections in total.
    @ivar maxPerAddress: connections per remote address.
    @ivar limitLoopback: whether the limits keyed by remote address alone
        apply to loopback addresses too.
    """

    idleTimeout: float = 90
    maxBuffer: int = 1024 * 1024
    sends: Rate = Rate(30, 10)
    requests: Rate = Rate(100, 50)
    loginFailures: Rate = Rate(10, 0.1)
    addressFailures: Rate = Rate(50, 0.5)
    nameFailures: Rate = Rate(100, 1)
    registrations: Rate = Rate(20, 0.2)
    maxConnections: int = 20000
    maxPerAddress: int = 1000
    limitLoopback: bool = False


def _retryAfter(seconds):
    """
    A wait in seconds as the C{retry_after} field: whole milliseconds,
    rounded up, at least 1.
    """
    return max(1, int(math.ceil(seconds * 1000)))


class TokenBucket:
    """
    A token bucket on an injected clock: C{rate.burst} tokens at most,
    refilled continuously at C{rate.rate} per second.
    """

    __slots__ = ("burst", "rate", "clock", "tokens", "stamp")

    def __init__(self, rate, clock):
        self.burst = rate.burst
        self.rate = rate.rate
        self.clock = clock
        self.tokens = rate.burst
        self.stamp = clock.seconds()

    def _refill(self):
        now = self.clock.seconds()
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait(self, count=1):
        """
        Seconds until C{count} tokens are there (0 if they are now).
        """
        self._refill()
        missing = count - self.tokens
        return missing / self.rate if missing > 0 else 0.0

    def take(self, count=1):
        """
        Take C{count} tokens if they are there.

        @return: 0 if taken, else the seconds until they would be.
        """
        wait = self.wait(count)
        if not wait:
            self.tokens -= count
        return wait

    def give(self, count=1):
        """
        Put back C{count} tokens taken earlier.
        """
        self._refill()
        self.tokens = min(self.burst, self.tokens + count)

    def full(self):
        """
        Whether the bucket is full: it holds no trace of past use.
        """
        self._refill()
        return self.tokens >= self.burst

    def check(self):
        """
        Take one token.

        @raise errors.RateLimited: with C{retry_after}, if there is none.
        """
        wait = self.take()
        if wait:
            raise errors.RateLimited(retry_after=_retryAfter(wait))


class BucketTable:
    """
    Token buckets by key (a user, an address...), created on first use.

    Full buckets carry no state, so they are dropped whenever the table has
    doubled since it was last swept; past C{maxKeys} the oldest buckets go
    too, so memory stays bounded whatever keys clients invent.
    """

    def __init__(self, rate, clock, maxKeys=100000):
        self.rate = rate
        self.clock = clock
        self.maxKeys = maxKeys
        self._buckets = {}
        self._sweepAt = 1024

    def __len__(self):
        return len(self._buckets)

    def get(self, key):
        """
        The bucket of C{key}.
        """
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._sweepAt:
                self._sweep()
            bucket = self._buckets[key] = TokenBucket(self.rate, self.clock)
        return bucket

    def peekFull(self, key):
        """
        Whether C{key}'s bucket is full (or absent), without creating it.
        """
        bucket = self._buckets.get(key)
        return bucket is None or bucket.full()

    def _sweep(self):
        buckets = self._buckets
        for key in [key for key, bucket in buckets.items() if bucket.full()]:
            del buckets[key]
        excess = len(buckets) - self.maxKeys + 1
        if excess > 0:
            for key in list(buckets)[:excess]:
                del buckets[key]
        self._sweepAt = max(1024, 2 * len(buckets))


def isLoopback(host):
    """
    Whether C{host} (an IP address as text) is a loopback address.
    """
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def addressOf(session):
    """
    The remote IP address of C{session}'s connection, or C{None} when it has
    none (a unix socket).
    """
    try:
        return session.protocol.transport.getPeer().host
    except Exception:
        return None


def pendingBytes(transport):
    """
    How many bytes C{transport} holds that the peer has not taken yet.

    Twisted's socket transports keep them in C{dataBuffer} (from C{offset})
    and C{_tempDataBuffer}; a TLS transport keeps cleartext waiting for its
    handshake in C{_appSendBuffer} and writes the rest to the transport
    under it, which is looked at in turn.  Anything else (a test transport)
    counts as empty.
    """
    total = 0
    for _ in range(4):
        if transport is None:
            break
        pending = getattr(transport, "_appSendBuffer", None)
        if pending:
            total += sum(map(len, pending))
        data = getattr(transport, "dataBuffer", None)
        if isinstance(data, bytes):
            total += len(data) - getattr(transport, "offset", 0) + getattr(transport, "_tempDataLen", 0)
            break
        transport = getattr(transport, "transport", None)
    return total


class LoginAttempt:
    """
    One C{login} or C{register} let through by the L{LoginThrottle}; used as
    a context manager around the attempt.  It holds a token of each bucket
    it passed, which it gives back unless the attempt fails with
    C{auth_failed} or C{user_exists}: only failures slow anyone down.
    """

    failures = (errors.AuthFailed, errors.UserExists)

    def __init__(self, taken):
        self._taken = taken

    def __enter__(self):
        return self

    def __exit__(self, excType, exc, tb):
        if exc is None or not isinstance(exc, self.failures):
            for bucket in self._taken:
                bucket.give()
        return False


class LoginThrottle:
    """
    Makes password guessing slow without letting an attacker lock out the
    real user.

    Failures are counted in three kinds of buckets:

      - per (user name, address): the tight limit on guessing one account
        from one place;
      - per address (unless loopback): one place guessing many accounts;
      - per user name over every address: many places guessing one
        account.  When it is spent, an address that has no failure of its
        own for that name (its per-(name, address) bucket is full) still may
        try, so failures from address A never delay a login from B.  The
        price: a botnet gets one guess per address per refill of the
        per-(name, address) bucket.

    An attempt takes a token of each bucket before the password is checked
    (so parallel attempts cannot overdraw) and gets them back on success.
    """

    def __init__(self, clock, limits):
        self.clock = clock
        self.limitLoopback = limits.limitLoopback
        self._perNameAddress = self._table(limits.loginFailures)
        self._perAddress = self._table(limits.addressFailures)
        self._perName = self._table(limits.nameFailures)
        self._registrations = self._table(limits.registrations)

    def _table(self, rate):
        return None if rate is None else BucketTable(rate, self.clock)

    def _addressLimited(self, address):
        return address is not None and (self.limitLoopback or not isLoopback(address))

    def attempt(self, address, name):
        """
        Let a login for C{name} from C{address} be tried now, or not.

        @return: a L{LoginAttempt} to wrap the attempt in.
        @raise errors.RateLimited: if it must wait.
        """
        taken = []
        waits = []

        def take(bucket):
            wait = bucket.take()
            if wait:
                waits.append(wait)
            else:
                taken.append(bucket)

        clean, untilClean = True, 0.0
        if self._perNameAddress is not None:
            key = (name, address)
            clean = self._perNameAddress.peekFull(key)
            bucket = self._perNameAddress.get(key)
            untilClean = bucket.wait(bucket.burst)
            take(bucket)
        if self._perAddress is not None and self._addressLimited(address):
            take(self._perAddress.get(address))
        if self._perName is not None:
            bucket = self._perName.get(name)
            wait = bucket.take()
            if not wait:
                taken.append(bucket)
            elif not clean:
                # Spent by failures from everywhere, and this address failed
                # too: it waits for whichever frees it first.
                waits.append(min(wait, untilClean))
        if waits:
            for bucket in taken:
                bucket.give()
            raise errors.RateLimited("too many failed attempts, try again later", retry_after=_retryAfter(max(waits)))
        return LoginAttempt(taken)

    def register(self, address, name):
        """
        Let a registration of C{name} from C{address} be tried now, or not:
        registrations per address are limited (each costs a password hash),
        and a taken name counts as a failure like a wrong password.

        @return: a L{LoginAttempt} to wrap the attempt in.
        @raise errors.RateLimited: if it must wait.
        """
        if self._registrations is not None and self._addressLimited(address):
            self._registrations.get(address).check()
        return self.attempt(address, name)


class ConnectionLimiter:
    """
    Counts connections in total and per remote address, and refuses those
    over the limits.
    """

    log = Logger()

    def __init__(self, maxConnections, maxPerAddress, limitLoopback=False):
        self.maxConnections = maxConnections
        self.maxPerAddress = maxPerAddress
        self.limitLoopback = limitLoopback
        self.total = 0
        self._perAddress = {}
        self._admitted = {}

    def admit(self, session, address):
        """
        Count C{session}'s connection from C{address} in, if the limits
        allow.

        @return: C{None} if admitted, else the reason it is refused.
        """
        if self.maxConnections and self.total >= self.maxConnections:
            self.log.warn("Refused a connection from {address}: {limit} connections already", address=address, limit=self.maxConnections)
            return "the server is full (%d connections), try again later" % (self.maxConnections,)
        perAddress = (
            address is not None and self.maxPerAddress
            and (self.limitLoopback or not isLoopback(address))
        )
        if perAddress:
            count = self._perAddress.get(address, 0)
            if count >= self.maxPerAddress:
                self.log.warn("Refused a connection from {address}: {limit} connections from there already", address=address, limit=self.maxPerAddress)
                return "too many connections from your address (%d), try again later" % (self.maxPerAddress,)
            self._perAddress[address] = count + 1
        self.total += 1
        self._admitted[session] = address if perAddress else None
        return None

    def release(self, session):
        """
        C{session}'s connection is gone (nothing happens if it was never
        admitted).
        """
        if session not in self._admitted:
            return
        address = self._admitted.pop(session)
        self.total -= 1
        if address is not None:
            count = self._perAddress[address] - 1
            if count:
                self._perAddress[address] = count
            else:
                del self._perAddress[address]


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
        self.connections = ConnectionLimiter(limits.maxConnections, limits.maxPerAddress, limits.limitLoopback)

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
            bucket.check()

    def checkSend(self, user):
        """
        Count a message sent by C{user}.

        @raise errors.RateLimited: if C{user} sends too fast.
        """
        if self._sends is not None:
            self._sends.get(user).check()

    def admit(self, session):
        """
        Count a new connection in; refuse it (an C{unavailable} error, then
        close) if there are too many.
        """
        reason = self.connections.admit(session, addressOf(session))
        if reason is not None:
            session.refuse(errors.Unavailable(reason))

    def release(self, session):
        """
        A connection is gone.
        """
        self.connections.release(session)
