# -*- test-case-name: tests.test_liveness -*-
"""
Noticing clients that are gone: an idle timeout on every connection, and
TCP keepalive so that a peer that vanished without a word (a laptop lid
closed, a NAT entry dropped) is found out by the kernel too.
"""

from twisted.internet.interfaces import ITCPTransport
from twisted.logger import Logger

#: Seconds without a frame from a client before its connection is closed.
DEFAULT_IDLE_TIMEOUT = 90


class IdleTimeout:
    """
    Calls C{onTimeout} once nothing has been L{touch}ed for C{seconds}.

    Touching only records the time: the one pending C{callLater} is moved
    when it fires early, so a busy connection costs no timer churn.
    """

    def __init__(self, clock, seconds, onTimeout):
        self.clock = clock
        self.seconds = seconds
        self.onTimeout = onTimeout
        self._last = clock.seconds()
        self._call = clock.callLater(seconds, self._check)

    def touch(self):
        """
        The client sent something.
        """
        self._last = self.clock.seconds()

    def stop(self):
        """
        Never time out (the connection is gone).
        """
        call, self._call = self._call, None
        if call is not None and call.active():
            call.cancel()

    def _check(self):
        if self._call is None:
            return
        remaining = self._last + self.seconds - self.clock.seconds()
        if remaining > 0:
            self._call = self.clock.callLater(remaining, self._check)
            return
        self._call = None
        self.onTimeout()


def startIdleTimeout(clock, seconds, onTimeout):
    """
    An L{IdleTimeout}, or C{None} if C{seconds} is 0 (never time out).
    """
    if not seconds:
        return None
    return IdleTimeout(clock, seconds, onTimeout)


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
