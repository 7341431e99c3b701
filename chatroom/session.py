# -*- test-case-name: tests.test_session -*-
"""
One client connection as the service sees it, whatever its framing.
"""

from collections import deque

from twisted.internet.defer import Deferred


class Session:
    """
    A connection's state: who is logged in on it, and its requests, which
    are handled one at a time so that replies come in request order and a
    request always sees the effects of the ones before it.

    @ivar user: the logged-in user, or C{None}.
    @ivar seen: while missed messages are being pushed, the C{(stream,
        msg_id)} pairs this connection got live, so none is pushed twice.
    """

    #: Requests queued beyond this many stop reading from the connection
    #: until the queue drains: a client cannot make us buffer without bound.
    maxQueued = 64

    def __init__(self, service, protocol):
        self.service = service
        self.protocol = protocol
        self.user = None
        self.connected = True
        self.seen = None
        self._queue = deque()
        self._busy = False
        self._paused = False
        self._closing = False
        self._inputEnded = False
        self._afterReply = []

    def __repr__(self):
        return "<Session %s %s>" % (self.user, self.peer)

    @property
    def peer(self):
        """
        The remote address, as C{host:port} text.
        """
        try:
            address = self.protocol.transport.getPeer()
            return "%s:%s" % (address.host, address.port)
        except Exception:
            return "?"

    # Input from the protocol.

    def objectReceived(self, obj):
        """
        A decoded JSON value arrived.
        """
        self._enqueue(obj)

    def rejected(self, error, close=False):
        """
        A frame could not be decoded; C{error} is the L{ChatError} to reply
        with, in its turn.  With C{close}, the connection is closed after it.
        """
        self._enqueue(Rejected(error, close))

    def inputEnded(self):
        """
        The client closed its sending side (C{nc} at the end of its input):
        answer everything it sent, then close.
        """
        self._inputEnded = True
        self._closeIfDone()

    def connectionLost(self):
        """
        The connection is gone: drop what is queued and tell the service.
        """
        self.connected = False
        self._queue.clear()
        self.service.sessionClosed(self)

    # Output.

    def sendPayload(self, payload):
        """
        Write an encoded JSON object (a reply or an event) to the client.
        """
        if self.connected:
            self.protocol.sendPayload(payload)

    def close(self):
        """
        Close the connection once the current reply is written; requests
        still queued are dropped.
        """
        self._closing = True
        self._queue.clear()

    def callAfterReply(self, f, *args):
        """
        Call C{f(*args)} once the reply to the current request is written
        (a login's missed messages must come after its C{ok}).
        """
        self._afterReply.append((f, args))

    # The request queue.

    def _enqueue(self, item):
        if self._closing:
            return
        if self._busy:
            self._queue.append(item)
            if not self._paused and len(self._queue) >= self.maxQueued:
                self._paused = True
                self.protocol.transport.pauseProducing()
            return
        self._process(item)

    def _process(self, item):
        dispatch = self.service.dispatcher.dispatch
        while True:
            result = dispatch(self, item)
            if isinstance(result, Deferred):
                if not result.called:
                    self._busy = True
                    result.addCallback(self._finished)
                    return
                # Finished without waiting: take the reply now rather than
                # recursing through callbacks for every queued request.
                box = []
                result.addCallback(box.append)
                result = box[0]
            self._reply(result)
            if not self._queue:
                self._resumeIfDrained()
                self._closeIfDone()
                return
            item = self._queue.popleft()

    def _finished(self, payload):
        self._busy = False
        self._reply(payload)
        self._resumeIfDrained()
        if self._queue:
            self._process(self._queue.popleft())
        else:
            self._closeIfDone()

    def _reply(self, payload):
        self.sendPayload(payload)
        if self._afterReply:
            calls, self._afterReply = self._afterReply, []
            for f, args in calls:
                f(*args)

    def _resumeIfDrained(self):
        # Checked after every reply, synchronous ones included: a queue
        # drained by quick replies must not leave the connection unread.
        if self._paused and len(self._queue) < self.maxQueued // 2 and self.connected and not self._closing:
            self._paused = False
            self.protocol.transport.resumeProducing()

    def _closeIfDone(self):
        if not self.connected or self._busy or self._queue:
            return
        if self._closing or self._inputEnded:
            self.protocol.transport.loseConnection()


class Rejected:
    """
    A frame that failed to decode, waiting in the queue for its turn.
    """

    __slots__ = ("error", "close")

    def __init__(self, error, close):
        self.error = error
        self.close = close
