# -*- test-case-name: tests.client.test_connection -*-
"""
Keep one connection to the server open, retrying with backoff.

Twisted's C{ClientService} does this too, but a connection that its
C{prepareConnection} rejects (our automatic login refused with
C{unavailable} while a server starts) raises C{NoTransition} when it later
closes, and logging in needs its own say in when a connection counts as
up.  This class only connects and schedules; L{ChatConnection} decides what
a connection is worth.
"""

from twisted.application.internet import backoffPolicy
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.logger import Logger

#: first retry after about a second, then up to half a minute apart
DEFAULT_BACKOFF = backoffPolicy(initialDelay=0.5, maxDelay=30.0, factor=2.0)


class Reconnector:
    """
    Connect C{factory} to C{endpoint}; after a failed attempt or a lost
    connection, wait C{policy(failures)} seconds and connect again.

    @ivar failures: failed attempts (and unhealthy connections) in a row.
    """

    log = Logger()

    def __init__(self, endpoint, factory, clock, connected, retrying, policy=DEFAULT_BACKOFF):
        """
        @param connected: called with each new protocol.
        @param retrying: called with C{(failures, delay)} when a retry is
            scheduled.
        """
        self.endpoint = endpoint
        self.factory = factory
        self.clock = clock
        self.connected = connected
        self.retrying = retrying
        self.policy = policy
        self.failures = 0
        self.protocol = None
        self.stopping = False
        self._attempt = None
        self._delayed = None
        self._stopped = None

    def start(self):
        """
        Make the first attempt.
        """
        self.stopping = False
        self._connect()

    def _connect(self):
        self._delayed = None
        self._attempt = self.endpoint.connect(self.factory)
        self._attempt.addCallbacks(self._made, self._failed)
        self._attempt.addErrback(lambda f: self.log.failure("reconnecting", f))

    def _made(self, protocol):
        self._attempt = None
        self.protocol = protocol
        self.connected(protocol)

    def _failed(self, failure):
        self._attempt = None
        if self.stopping or failure.check(CancelledError):
            return
        self.failures += 1
        self._schedule()

    def lost(self, healthy, expected=False):
        """
        The connection ended.

        @param healthy: whether it had been of use (then the next attempt
            comes soon; otherwise the backoff keeps growing).
        @param expected: the server closed it as asked (after a logout):
            connect again at once.
        """
        self.protocol = None
        if self.stopping:
            stopped, self._stopped = self._stopped, None
            if stopped is not None:
                stopped.callback(None)
            return
        if expected:
            self.failures = 0
            self._delayed = self.clock.callLater(0, self._connect)
            return
        self.failures = 1 if healthy else self.failures + 1
        self._schedule()

    def _schedule(self):
        delay = self.policy(self.failures)
        self.retrying(self.failures, delay)
        self._delayed = self.clock.callLater(delay, self._connect)

    def stop(self):
        """
        Stop retrying and close the connection.

        @return: a Deferred that fires once the connection is closed.
        """
        self.stopping = True
        if self._delayed is not None and self._delayed.active():
            self._delayed.cancel()
        self._delayed = None
        if self._attempt is not None:
            self._attempt.cancel()
        if self.protocol is None or self.protocol.transport is None:
            return succeed(None)
        self._stopped = Deferred()
        self.protocol.transport.loseConnection()
        return self._stopped
