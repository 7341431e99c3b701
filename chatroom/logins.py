# -*- test-case-name: tests.test_limits -*-
"""
Throttling password guessing: failed logins and registrations per (user
name, address), per address and per user name, without letting one
address lock out another.
"""

from collections import OrderedDict

from chatroom import errors
from chatroom.buckets import BucketTable, _retryAfter
from chatroom.connections import addressKey, isLoopback

#: Seconds a successful login from an address is remembered (see
#: L{LoginThrottle}): a month.
KNOWN_GOOD_SECONDS = 30 * 86400

#: At most this many (name, address) pairs are remembered as known good;
#: past it the oldest are forgotten.
MAX_KNOWN_GOOD = 100000


class LoginAttempt:
    """
    One C{login} or C{register} let through by the L{LoginThrottle}; used as
    a context manager around the attempt.  It holds a token of each bucket
    it passed, which it gives back unless the attempt fails with
    C{auth_failed} or C{user_exists}: only failures slow anyone down.
    """

    failures = (errors.AuthFailed, errors.UserExists, errors.NameTaken)

    def __init__(self, taken, succeeded=None, failed=None):
        """
        @param taken: the buckets a token was taken from.
        @param succeeded: called if the attempt succeeds, or C{None}.
        @param failed: called if it fails (a failure that counts), or
            C{None}.
        """
        self._taken = taken
        self._succeeded = succeeded
        self._failed = failed

    def __enter__(self):
        return self

    def __exit__(self, excType, exc, tb):
        if exc is None or not isinstance(exc, self.failures):
            for bucket in self._taken:
                bucket.give()
            if exc is None and self._succeeded is not None:
                self._succeeded()
        elif self._failed is not None:
            self._failed()
        return False


class LoginThrottle:
    """
    Makes password guessing slow without letting an attacker lock out the
    real user.

    Addresses are counted by L{addressKey} (an IPv6 address by its /64).
    Failures are counted in three kinds of buckets:

      - per (user name, address), the primary one: guessing one account
        from one place.  It always applies, and it is the only bucket that
        failures of others cannot empty for the real user.
      - per address (unless loopback): one place guessing many accounts.
        It does not stop a (name, address) pair known good, one that logged
        in successfully within L{KNOWN_GOOD_SECONDS}: an attacker spraying
        guesses from a shared address (a NAT) cannot keep out the people
        who log in from there.
      - per user name over every address, the backstop, slower: many
        places guessing one account.  Once it is spent, an address with a
        failure of its own for that name (its per-(name, address) bucket
        is not full) waits for a token of the backstop or for its own
        bucket to be full again, whichever comes first; an address with no
        such failure, or known good, still may try, so failures from
        address A never delay a login from B.  A failure of an address let
        through that way empties its own bucket: while an account is under
        attack from many places, each of them gets one guess per full
        refill of its bucket, plus the backstop's own rate for them all.

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
        # (name, address key) -> when it stops being known good, oldest first.
        self._knownGood = OrderedDict()

    def _table(self, rate):
        return None if rate is None else BucketTable(rate, self.clock)

    def _addressLimited(self, address):
        return address is not None and (self.limitLoopback or not isLoopback(address))

    def isKnownGood(self, address, name):
        """
        Whether C{name} logged in from C{address} (or its /64) within
        L{KNOWN_GOOD_SECONDS}.
        """
        until = self._knownGood.get((name, addressKey(address)))
        return until is not None and until > self.clock.seconds()

    def _remember(self, pair):
        known = self._knownGood
        known[pair] = self.clock.seconds() + KNOWN_GOOD_SECONDS
        known.move_to_end(pair)
        now = self.clock.seconds()
        # Oldest first: forget the expired ones, and the oldest past the cap.
        while known and (len(known) > MAX_KNOWN_GOOD or next(iter(known.values())) <= now):
            known.popitem(last=False)

    def attempt(self, address, name):
        """
        Let a login for C{name} from C{address} be tried now, or not.

        @return: a L{LoginAttempt} to wrap the attempt in.
        @raise errors.RateLimited: if it must wait.
        """
        key = addressKey(address)
        pair = (name, key)
        knownGood = self.isKnownGood(address, name)
        taken = []
        waits = []
        penalty = None

        def take(bucket):
            wait = bucket.take()
            if wait:
                waits.append(wait)
            else:
                taken.append(bucket)

        clean, untilClean, own = True, 0.0, None
        if self._perNameAddress is not None:
            clean = self._perNameAddress.peekFull(pair)
            own = self._perNameAddress.get(pair)
            untilClean = own.wait(own.burst)
            take(own)
        if self._perAddress is not None and self._addressLimited(address) and not knownGood:
            take(self._perAddress.get(key))
        if self._perName is not None and not knownGood:
            bucket = self._perName.get(name)
            wait = bucket.take()
            if not wait:
                taken.append(bucket)
            elif not clean:
                # Spent by failures from everywhere, and this address failed
                # too: it waits for whichever frees it first.
                waits.append(min(wait, untilClean))
            elif own is not None:
                # Let through only because this address has no failure of
                # its own: if it fails, it has one, for a whole refill.
                penalty = own.drain
        if waits:
            for bucket in taken:
                bucket.give()
            raise errors.RateLimited("too many failed attempts, try again later", retry_after=_retryAfter(max(waits)))
        return LoginAttempt(taken, succeeded=lambda: self._remember(pair), failed=penalty)

    def register(self, address, name):
        """
        Let a registration of C{name} from C{address} be tried now, or not:
        registrations per address are limited (each costs a password hash),
        and a taken name counts as a failure like a wrong password.

        @return: a L{LoginAttempt} to wrap the attempt in.
        @raise errors.RateLimited: if it must wait.
        """
        if self._registrations is not None and self._addressLimited(address):
            self._registrations.get(addressKey(address)).check()
        return self.attempt(address, name)
