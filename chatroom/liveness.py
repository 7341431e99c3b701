# -*- test-case-name: tests.test_liveness -*-
"""
Noticing clients that are gone: an idle timeout on every connection, a
deadline for logging in, and TCP keepalive so that a peer that vanished without a word (a laptop lid
closed, a NAT entry dropped) is found out by the kernel too.
"""

from twisted.internet.interfaces import ITCPTransport
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

#: Seconds without a frame from a client before its connection is closed.
DEFAULT_IDLE_TIMEOUT = 90

#: Seconds a connection has to log in.
DEFAULT_LOGIN_TIMEOUT = 30


class IdleSweeper:
    """
    Closes the connections that sent nothing for C{seconds}: one timer for
    all of them, rather than one per connection (a pending timer costs about
    half a kilobyte, more than a third of what an idle connection costs).

    Each session records when it last heard from its client
    (C{lastHeard}); the sweep runs every C{seconds / 4} (at most every 5 s),
    so a connection is closed between C{seconds} and C{seconds} plus one
    sweep after its last frame.
    """

    def __init__(self, clock, seconds, sessions):
        """
        @param sessions: the live sessions (a collection that the sweep
            only reads).
        """
        self.clock = clock
        self.seconds = seconds
        self.sessions = sessions
        self._loop = LoopingCall(self.sweep)
        self._loop.clock = clock

    @property
    def interval(self):
        """
        Seconds between two sweeps.
        """
        return min(5.0, self.seconds / 4.0)

    def start(self):
        """
        Start sweeping (once; nothing when there is no timeout).
        """
        if self.seconds and not self._loop.running:
            self._loop.start(self.interval, now=False)

    def stop(self):
        """
        Stop sweeping.
        """
        if self._loop.running:
            self._loop.stop()

    def sweep(self):
        """
        Close every session idle for C{seconds} or more.
        """
        deadline = self.clock.seconds() - self.seconds
        for session in [s for s in self.sessions if s.lastHeard <= deadline]:
            session.idleTimedOut(self.seconds)


class LoginSweeper(IdleSweeper):
    """
    Closes the connections that have not logged in within C{seconds} of
    their start, whatever they sent meanwhile (a C{ping} does not extend
    the deadline): one timer for all of them, as L{IdleSweeper}.

    Each session records when it started (C{opened}); C{sessions} holds
    only those not logged in yet.  A connection is told, then closed,
    between C{seconds} and C{seconds} plus one sweep after it started; if
    it is still there at the next sweep (a client that does not read), it
    is aborted.
    """

    def sweep(self):
        """
        Close every session that has not logged in within C{seconds}.
        """
        deadline = self.clock.seconds() - self.seconds
        for session in [s for s in self.sessions if s.opened <= deadline]:
            session.loginTimedOut(self.seconds)


_log = Logger()


def tuneTransport(transport):
    """
    Turn on TCP keepalive and TCP_NODELAY (replies and events are small and
    should leave at once) when C{transport} is TCP; other transports (unix
    sockets, test transports) are left alone.
    """
    if not ITCPTransport.providedBy(transport):
        return
    for method in ("setTcpKeepAlive", "setTcpNoDelay"):
        try:
            getattr(transport, method)(True)
        except (AttributeError, OSError, NotImplementedError) as e:
            # A unix socket behind a TCP-looking transport, a socket already
            # closed: neither is worth refusing the connection over.
            _log.debug("{method} not available on {transport}: {error}", method=method, transport=transport, error=e)
