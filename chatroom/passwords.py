# -*- test-case-name: tests.handlers.test_accounts -*-
"""
Password hashing with argon2id, off the reactor thread.
"""

import os

import attr
from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from twisted.application.service import Service
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

DEFAULT_TIME_COST = 2
DEFAULT_MEMORY_KIB = 19456


@attr.s
class PasswordHasher:
    """
    Salted argon2id hashes, computed in a thread pool so that a login never
    stalls the other users of the reactor.

    @ivar timeCost: argon2 iterations (the "hash cost").
    @ivar memoryKiB: argon2 memory per hash, in KiB.
    """

    reactor = attr.ib()
    threadpool = attr.ib()
    timeCost = attr.ib(default=DEFAULT_TIME_COST)
    memoryKiB = attr.ib(default=DEFAULT_MEMORY_KIB)
    _argon2 = attr.ib(init=False)
    _dummy = attr.ib(init=False, default=None)

    def __attrs_post_init__(self):
        self._argon2 = _Argon2(time_cost=self.timeCost, memory_cost=self.memoryKiB, parallelism=1)

    def _inThread(self, f, *args):
        return deferToThreadPool(self.reactor, self.threadpool, f, *args)

    def hash(self, password):
        """
        A Deferred of the encoded hash of C{password}.
        """
        return self._inThread(self._argon2.hash, password)

    def verify(self, encoded, password):
        """
        A Deferred firing C{True} if C{password} matches C{encoded}.

        With C{encoded=None} (no such user) a dummy hash is checked instead,
        so an unknown user costs the same time as a wrong password.
        """
        return self._inThread(self._verify, encoded, password)

    def _verify(self, encoded, password):
        if encoded is None:
            if self._dummy is None:
                self._dummy = self._argon2.hash("not a password")
            encoded, valid = self._dummy, False
        else:
            valid = True
        try:
            self._argon2.verify(encoded, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return valid


class HashingThreads(Service):
    """
    The threads that compute password hashes: one per core, since argon2
    is CPU-bound, and each thread keeps its hash memory (C{--hash-memory},
    19 MiB by default) in its own malloc arena; the reactor's shared pool of
    ten threads grew the server to 250 MB before its first user.

    @ivar pool: the L{ThreadPool} to give L{PasswordHasher}.
    """

    def __init__(self, size=None):
        size = size or os.cpu_count() or 1
        self.pool = ThreadPool(0, size, name="password-hashing")

    def startService(self):
        super().startService()
        self.pool.start()

    def stopService(self):
        super().stopService()
        self.pool.stop()
