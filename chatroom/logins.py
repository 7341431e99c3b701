# -*- test-case-name: tests.test_limits -*-
"""
Throttling password guessing: failed logins and registrations per address
and per user name, without letting one address lock out another.
"""

from chatroom import errors
from chatroom.buckets import BucketTable, _retryAfter
from chatroom.connections import isLoopback


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
