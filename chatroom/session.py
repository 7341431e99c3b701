# -*- test-case-name: tests.test_session -*-
"""
One client connection as the service sees it, whatever its framing.
"""

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from chatroom import errors, securitylog
from chatroom.connections import addressOf, pendingBytes
from chatroom.controls import byeEvent
from chatroom.liveness import IdleSweeper, LoginSweeper, tuneTransport
from chatroom.metrics import NO_METRICS
from chatroom.protocol import encode


class Session:
    """
    A connection's state: who is logged in on it, and its requests, which
    are handled one at a time so that replies come in request order and a
    request always sees the effects of the ones before it.

    @ivar user: the logged-in user, or C{None}.
    @ivar requestBucket: the L{TokenBucket} of this connection's requests,
        or C{None} when they are not limited.
    """

    log = Logger()

    #: C{[when, refused since]} of the last rate-limit line logged for this
    #: connection (see L{securitylog.rateLimited}); set on the instance
    #: only once it is refused, so an idle connection costs nothing more.
    rateLogged = None

    #: Requests queued beyond this many stop reading from the connection
    #: until the queue drains: a client cannot make us buffer without bound.
    maxQueued = 64

    def __init__(self, protocol, dispatcher, clock, limiter=None, closed=None, loggedIn=None,
                 port=NO_METRICS.port("main")):
        """
        @param dispatcher: the L{Dispatcher} of this connection's requests.
        @param clock: the reactor's clock (for L{lastHeard}).
        @param limiter: the L{Limiter} whose buffer bound and request rate
            apply, or C{None}.
        @param closed: called with this session when the connection is gone.
        @param loggedIn: called with this session when it first logs in.
        @param port: the L{chatroom.metrics.PortRecorder} of its port.
        """
        self.protocol = protocol
        self.port = port
        self.dispatcher = dispatcher
        self.clock = clock
        self._closed = closed
        self._loggedIn = loggedIn
        self._loginTimedOut = False
        self._idleClosed = False
        self.user = None
        self.connected = True
        # A list, not a deque: it holds at most maxQueued requests, and an
        # empty deque costs 760 bytes on every idle connection.
        self._queue = []
        self._busy = False
        self._paused = False
        self._closing = False
        self._inputEnded = False
        self._afterReply = []
        self._overflowed = False
        self.maxBuffer = limiter.limits.maxBuffer if limiter is not None else 0
        self.requestBucket = limiter.requestBucket() if limiter is not None else None
        #: When the client last sent a frame (the idle sweep reads it).
        self.lastHeard = self.opened = clock.seconds()
        tuneTransport(protocol.transport)

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
        self.lastHeard = self.clock.seconds()
        self._enqueue(obj)

    def rejected(self, error, close=False):
        """
        A frame could not be decoded; C{error} is the L{ChatError} to reply
        with, in its turn.  With C{close}, the connection is closed after it.
        """
        self.lastHeard = self.clock.seconds()
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
        The connection is gone: drop what is queued, and say so.
        """
        self.connected = False
        self._queue.clear()
        if self._closed is not None:
            self._closed(self)

    # Output.

    def sendPayload(self, payload):
        """
        Write an encoded JSON object (a reply or an event) to the client.

        A client that lets more than C{maxBuffer} bytes pile up unread is
        disconnected instead: what it missed stays pending in Redis (only
        C{ack} moves read positions) and comes at its next login.
        """
        if self.connected and not self._overflowed:
            if self.maxBuffer and pendingBytes(self.protocol.transport) > self.maxBuffer:
                self._overflow()
                return
            self.protocol.sendPayload(payload)

    def _overflow(self):
        self._overflowed = True
        self._queue.clear()
        securitylog.slowConsumer(addressOf(self), self.user, self.maxBuffer)
        self.port.slowConsumer()
        # Said, though a client this far behind may never read it: the
        # connection is aborted, not drained.
        self.protocol.sendPayload(encode(byeEvent("slow")))
        self._abort()

    def idleTimedOut(self, seconds):
        """
        The client sent nothing for C{seconds}: say C{bye} and close the
        connection; if it is still there at the next sweep (a client that
        does not read), abort it.
        """
        if not self.connected:
            return
        if self._idleClosed:
            self._abort()
            return
        self._idleClosed = True
        self.log.info("Closing {session}: nothing received for {seconds} s", session=self, seconds=seconds)
        self.bye("idle")

    def bye(self, reason):
        """
        Close the connection on purpose: C{{"type": "bye", "reason":
        reason}} first, after the reply to the request under way if there
        is one; requests still queued are dropped.  (A request's own
        handler uses L{byeAfterReply}.)
        """
        if not self.connected or self._closing:
            return
        payload = encode(byeEvent(reason))
        self.close()
        if self._busy:
            self.callAfterReply(self.sendPayload, payload)
        else:
            self.sendPayload(payload)
            self._closeIfDone()

    def byeAfterReply(self, reason):
        """
        Close the connection once the reply to the current request is
        written, with a C{bye} after it (C{logout}, C{account.delete}, an
        oversize frame).
        """
        self.close()
        self.callAfterReply(self.sendPayload, encode(byeEvent(reason)))

    def markLoggedIn(self):
        """
        The connection has logged in (the first time matters): it is no
        longer held to the login deadline nor counted as waiting to log in.
        """
        if self._loggedIn is not None:
            loggedIn, self._loggedIn = self._loggedIn, None
            loggedIn(self)

    def loginTimedOut(self, seconds):
        """
        The connection has not logged in within C{seconds}: tell the client
        (an C{unavailable} error without id) and close; if it is still
        there when this is called again, abort it.
        """
        if not self.connected:
            return
        if self._loginTimedOut:
            self._abort()
            return
        self._loginTimedOut = True
        securitylog.loginTimeout(addressOf(self), seconds)
        self.sendPayload(encode(
            errors.Unavailable("not logged in within %g seconds, closing the connection" % (seconds,)).reply(None)))
        self.bye("idle")

    def _abort(self):
        # Not loseConnection: that waits for the unread bytes to be written,
        # which a stalled or vanished client never lets happen.
        transport = self.protocol.transport
        abort = getattr(transport, "abortConnection", None)
        if abort is not None:
            abort()
        else:
            transport.loseConnection()

    def refuse(self, error):
        """
        Answer the connection with C{error} (a L{ChatError}, no request
        id) and close it; nothing it sends is read.
        """
        self.sendPayload(encode(error.reply(None)))
        self.close()
        self._closeIfDone()

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
        dispatch = self.dispatcher.dispatch
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
            item = self._queue.pop(0)

    def _finished(self, payload):
        self._busy = False
        self._reply(payload)
        self._resumeIfDrained()
        if self._queue:
            self._process(self._queue.pop(0))
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


class Sessions:
    """
    The open connections of this node: a L{Session} for each, admitted
    under the connection limits, swept when idle or when it has not logged
    in in time, and logged out when it closes.  The port factories open
    sessions here.
    """

    def __init__(self, clock, dispatcher, limiter, presence, metrics=NO_METRICS):
        """
        @param dispatcher: the L{Dispatcher} every session's requests go to.
        @param limiter: the L{Limiter} of connections, rates and buffers.
        @param presence: the L{Presence} told when a session closes.
        @param metrics: the L{chatroom.metrics.Metrics} of connections and
            sessions by port.
        """
        self.clock = clock
        self.metrics = metrics
        self.dispatcher = dispatcher
        self.limiter = limiter
        self.presence = presence
        self._sessions = set()
        self._waiting = set()
        self.idleSweeper = IdleSweeper(clock, limiter.limits.idleTimeout, self._sessions)
        self.loginSweeper = LoginSweeper(clock, limiter.limits.loginTimeout, self._waiting)

    def __iter__(self):
        return iter(self._sessions)

    def __len__(self):
        return len(self._sessions)

    def open(self, protocol, port="main"):
        """
        A new connection on the port labelled C{port}: its L{Session}.
        """
        recorder = self.metrics.port(port)
        recorder.opened()
        session = Session(protocol, self.dispatcher, self.clock, self.limiter, self._closed, self._loggedIn,
                          recorder)
        self._sessions.add(session)
        self._waiting.add(session)
        self.idleSweeper.start()
        self.loginSweeper.start()
        self.limiter.admit(session)
        return session

    def waitingForLogin(self):
        """
        How many connections have not logged in yet.
        """
        return len(self._waiting)

    def _loggedIn(self, session):
        self._waiting.discard(session)
        session.port.loggedIn()
        self.limiter.loggedIn(session)

    def _closed(self, session):
        self._sessions.discard(session)
        session.port.closed(session not in self._waiting)
        self._waiting.discard(session)
        self.limiter.release(session)
        self.presence.loggedOut(session)

    def stop(self):
        """
        Stop sweeping (the node is stopping).
        """
        self.idleSweeper.stop()
        self.loginSweeper.stop()
