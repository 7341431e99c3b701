# -*- test-case-name: tests.test_limits -*-
"""
Token buckets on an injected clock, alone and in tables keyed by user,
address or name.
"""

import math

from chatroom import errors


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

    def drain(self):
        """
        Take every token there is.
        """
        self._refill()
        self.tokens = min(self.tokens, 0)

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
