# -*- test-case-name: tests.test_tap -*-
"""
How the services of C{twistd chatroom} are composed: stopped in order, and
the ports started once storage is ready.
"""

from twisted.application.service import MultiService, Service
from twisted.internet import defer
from twisted.logger import Logger


class StackedService(MultiService):
    """
    A MultiService whose children stop one after the other, last started
    first: the ports close, then the chat service says goodbye through
    Redis, and only then does the embedded Redis stop.
    """

    def stopService(self):
        Service.stopService(self)
        return defer.ensureDeferred(self._stopInOrder())

    async def _stopInOrder(self):
        for child in reversed(list(self)):
            try:
                await defer.maybeDeferred(child.stopService)
            except Exception:
                Logger().failure("Stopping {child} failed", child=child)


class StartedWhenReady(MultiService):
    """
    A MultiService whose children start only once C{ready} (a Deferred)
    has fired: the ports listen once storage is ready, so that no client
    is answered C{unavailable} while Redis loads or scripts are loaded.
    Stopped before that, it never starts them.

    Its children are not started in the privileged phase of C{twistd}
    either (listening then would accept clients at once): a port below
    1024 needs the capability to bind it (C{CAP_NET_BIND_SERVICE}) in the
    user the server runs as.  A port that cannot listen (its address in
    use) stops the server, as it would have failed to start before.
    """

    log = Logger()

    def __init__(self, ready, reactor):
        super().__init__()
        self._ready = ready
        self._reactor = reactor
        self._childrenStarted = False
        self._listening = False
        ready.addCallback(self._whenReady)

    def _whenReady(self, result):
        if self.running and not self._childrenStarted:
            self._startChildren()
        return result

    @property
    def listening(self):
        """
        Whether the ports have started listening (and not stopped).
        """
        return self._childrenStarted and self._listening

    def _startChildren(self):
        self._childrenStarted = True
        for child in self:
            try:
                child.startService()
            except Exception:
                self.log.failure("Cannot listen with {child}; stopping the server", child=child)
                self._reactor.stop()
                return
        self._listening = True

    def privilegedStartService(self):
        Service.privilegedStartService(self)

    def startService(self):
        Service.startService(self)
        if self._ready.called:
            self._startChildren()

    def stopService(self):
        if not self._childrenStarted:
            return Service.stopService(self)
        self._childrenStarted = self._listening = False
        return MultiService.stopService(self)
