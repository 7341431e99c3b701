# -*- test-case-name: tests.client.test_connection -*-
"""
Outgoing messages, kept until the server has stored them.

Every message gets a C{cid} when it is typed.  The server answers a
C{send} repeated with the same C{cid} with the first C{msg_id} and delivers
nothing twice, so a message whose reply was lost with the connection is
simply sent again after the reconnect: it arrives exactly once.
"""

import uuid

import attr
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionClosed
from twisted.logger import Logger

from chatroom.errors import NotLoggedIn, RateLimited, Unavailable

#: seconds before a message refused with C{unavailable} is tried again
RETRY_DELAY = 1.0
#: errors after which the same message may succeed later
RETRYABLE = (Unavailable, RateLimited)


def newCid():
    """
    A fresh idempotency key.
    """
    return uuid.uuid4().hex


@attr.s(eq=False)
class Outgoing:
    """
    One message on its way.

    @ivar deferred: fires with the C{ok} reply once the server stored the
        message, or fails with the error that made it impossible.
    """

    conversation = attr.ib()
    text = attr.ib()
    cid = attr.ib(factory=newCid)
    deferred = attr.ib(factory=Deferred)
    inFlight = attr.ib(default=False)
    attempts = attr.ib(default=0)

    def request(self):
        """
        The request type and fields that send this message.
        """
        c = self.conversation
        if c.group is None:
            return "send", {"to": c.peer, "text": self.text, "cid": self.cid}
        return "group.send", {"group": c.group, "text": self.text, "cid": self.cid}


def _retryAfter(error):
    """
    Seconds to wait after C{error}: its C{retry_after} (milliseconds, sent
    with C{rate_limited}) within reason, else L{RETRY_DELAY}.
    """
    ms = error.extra.get("retry_after")
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not 0 < ms <= 60000:
        return RETRY_DELAY
    return max(ms / 1000.0, 0.05)


class Outbox:
    """
    Messages in the order they were typed, each sent as soon as there is a
    logged-in connection and kept until the server answers for it.
    """

    log = Logger()

    def __init__(self, clock):
        self.clock = clock
        self.queue = []
        self._request = None
        self._retry = None
        self._emptyWaiters = []

    @property
    def online(self):
        """
        Whether messages are being sent right now.
        """
        return self._request is not None

    def add(self, conversation, text):
        """
        Queue a message and send it if possible.

        @return: the L{Outgoing}; its C{deferred} tells how it went.
        """
        item = Outgoing(conversation, text)
        self.queue.append(item)
        self._transmit(item)
        return item

    def connected(self, request):
        """
        A logged-in connection is there: send everything waiting.

        @param request: C{request(type, **fields)} returning a Deferred.
        """
        self._request = request
        self.flush()

    def disconnected(self):
        """
        The connection is gone: hold messages until L{connected}.
        """
        self._request = None
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None

    def flush(self):
        """
        Send every queued message that is not already on its way.
        """
        for item in list(self.queue):
            self._transmit(item)

    def _transmit(self, item):
        if self._request is None or item.inFlight:
            return
        item.inFlight = True
        item.attempts += 1
        type, fields = item.request()
        d = self._request(type, **fields)
        d.addCallbacks(self._stored, self._failed, callbackArgs=(item,), errbackArgs=(item,))
        d.addErrback(lambda f: self.log.failure("outbox", f))

    def whenEmpty(self):
        """
        A Deferred that fires once every queued message is answered for.
        """
        d = Deferred()
        if self.queue:
            self._emptyWaiters.append(d)
        else:
            d.callback(None)
        return d

    def _done(self, item):
        self.queue.remove(item)
        if not self.queue:
            waiters, self._emptyWaiters = self._emptyWaiters, []
            for d in waiters:
                d.callback(None)

    def _stored(self, reply, item):
        self._done(item)
        item.deferred.callback(reply)

    def _failed(self, failure, item):
        item.inFlight = False
        if failure.check(ConnectionClosed, NotLoggedIn):
            # Sent again with the same cid after the next login.
            return
        if failure.check(*RETRYABLE):
            if self._retry is None or not self._retry.active():
                delay = _retryAfter(failure.value)
                self._retry = self.clock.callLater(delay, self.flush)
            return
        self._done(item)
        item.deferred.errback(failure)
