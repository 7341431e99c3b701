# -*- test-case-name: tests.client.test_connection -*-
"""
One user's session over a connection that comes and goes.

L{Reconnector} reconnects with exponential backoff; each new connection
logs in again with the credentials of the last successful login before it
is used, then the outbox sends whatever was typed in between.
"""

from twisted.internet.defer import Deferred, fail
from twisted.internet.error import ConnectionLost
from twisted.internet.protocol import Factory
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from chatroom.client.inbox import Inbox
from chatroom.client.outbox import Outbox
from chatroom.client.personal import FINAL_REASONS
from chatroom.client.protocol import ChatClientProtocol
from chatroom.client.reconnect import DEFAULT_BACKOFF, Reconnector
from chatroom.errors import AuthFailed

#: seconds a request waits for a usable connection before it fails
CONNECT_WAIT = 10.0

#: seconds between two pings: well under the server's idle timeout (90 s
#: by default), after which a connection that sent nothing is closed
KEEPALIVE = 30.0


class NotConnected(ConnectionLost):
    """
    A request was made while there is no connection to the server.
    """


class ChatConnection:
    """
    The client's state that outlives a connection: who is logged in, what
    was seen, what is still to be sent.

    @ivar listener: told about the connection and its events; has
        C{connected(again)}, C{disconnected(reason)}, C{retrying(attempt,
        delay)}, C{loggedIn(reply, again)}, C{loginLost(error)},
        C{eventReceived(event)} (presence and group events), and the
        L{Inbox} view methods C{showMessage} and C{showMissed}.
    @ivar user: the logged-in user, or C{None}.
    """

    log = Logger()

    def __init__(self, endpoint, clock, listener, retryPolicy=DEFAULT_BACKOFF):
        self.clock = clock
        self.listener = listener
        self.protocol = None
        self.announced = None
        self.user = None
        self.credentials = None
        self.everConnected = False
        self.stopping = False
        self._loggedOut = False
        self._waiters = []
        self.outbox = Outbox(clock)
        self.inbox = Inbox(clock, listener, self._sendAck)
        self._keepalive = LoopingCall(self._ping)
        self._keepalive.clock = clock
        self.reconnector = Reconnector(
            endpoint,
            Factory.forProtocol(self._buildProtocol),
            clock,
            connected=self._newConnection,
            retrying=self._retrying,
            policy=retryPolicy,
        )

    # Connection life cycle.

    def start(self):
        """
        Start connecting (and reconnecting).
        """
        self.reconnector.start()
        self._keepalive.start(KEEPALIVE, now=False)

    def stop(self):
        """
        Stop for good: close the connection, cancel every timer.

        @return: a Deferred that fires once the connection is closed.
        """
        self.stopping = True
        if self._keepalive.running:
            self._keepalive.stop()
        # What was shown is acknowledged before the connection closes (the
        # acks are written before the close), or it comes back next time.
        self.inbox.flushMissed()
        self.inbox.flushAcks()
        self.inbox.stop()
        self.outbox.disconnected()
        waiters, self._waiters = self._waiters, []
        for d, timer in waiters:
            timer.cancel()
            d.errback(NotConnected("the client is stopping"))
        return self.reconnector.stop()

    def _ping(self):
        # The server closes connections that stay silent; a user reading
        # without typing must not be disconnected.
        protocol = self.protocol
        if protocol is not None and protocol.connected:
            protocol.request("ping").addErrback(lambda failure: None)

    def _buildProtocol(self):
        protocol = ChatClientProtocol(self._eventReceived, lambda reason: self._connectionLost(protocol, reason))
        return protocol

    def _retrying(self, attempt, delay):
        if not self.stopping:
            self.listener.retrying(attempt, delay)

    def _newConnection(self, protocol):
        self.protocol = protocol
        if self.credentials is None:
            self._announce(protocol)
            return None
        # The user hears of the new connection only once it is logged in:
        # a server still starting refuses logins with "unavailable", and
        # such a connection is dropped and retried without a word.
        user, password = self.credentials
        d = self._login(user, password, again=True)

        def failed(failure):
            if failure.check(AuthFailed):
                # The password no longer works: do not retry it forever.
                self.credentials = None
                self._announce(protocol)
                self.listener.loginLost(failure.value)
                return None
            # Storage down (a server still starting), connection gone...:
            # drop this connection; the reconnector backs off and retries.
            if protocol.connected:
                protocol.transport.loseConnection()
            return None

        d.addErrback(failed)

    def _announce(self, protocol):
        again = self.everConnected
        self.everConnected = True
        self.announced = protocol
        self.listener.connected(again)
        self._usable(protocol)

    def _connectionLost(self, protocol, reason):
        announced, self.announced = self.announced is protocol, None
        if protocol is self.protocol:
            self.protocol = None
            wasUser = self.user
            self.user = None
            self.outbox.disconnected()
            if announced and not self.stopping:
                self.listener.disconnected(reason, wasUser)
        expected, self._loggedOut = self._loggedOut, False
        self.reconnector.lost(healthy=announced, expected=expected)

    # Requests.

    def request(self, type, **fields):
        """
        Send a request on the current connection.

        @return: a Deferred firing with the C{ok} reply; fails with
            L{NotConnected} when there is no connection.
        """
        if self.protocol is not None and self.announced is self.protocol:
            return self.protocol.request(type, **fields)
        return self._whenUsable().addCallback(lambda protocol: protocol.request(type, **fields))

    def _whenUsable(self):
        """
        The protocol once a connection is usable (connected, and logged in
        again if we were); L{NotConnected} after L{CONNECT_WAIT} seconds.

        A command typed just before the connection is up (or while it is
        being re-established) then simply runs a moment later.
        """
        if self.stopping:
            return fail(NotConnected("the client is stopping"))
        d = Deferred()
        timer = self.clock.callLater(CONNECT_WAIT, self._giveUp, d)
        self._waiters.append((d, timer))
        return d

    def _giveUp(self, d):
        self._waiters = [(w, t) for (w, t) in self._waiters if w is not d]
        d.errback(NotConnected("not connected to the server"))

    def _usable(self, protocol):
        waiters, self._waiters = self._waiters, []
        for d, timer in waiters:
            timer.cancel()
            d.callback(protocol)

    def register(self, user, password, name=None):
        """
        Create an account (does not log in).
        """
        return self.request("register", user=user, password=password, name=name)

    def login(self, user, password):
        """
        Log in; on success the credentials are kept to log in again after a
        reconnect, and the outbox starts sending.
        """
        return self._login(user, password, again=False)

    def _login(self, user, password, again):
        protocol = self.protocol
        if again:
            # Logging in again is what makes a new connection usable.
            d = protocol.request("login", user=user, password=password)
        else:
            d = self.request("login", user=user, password=password)

        def loggedIn(reply):
            if again:
                self._announce(protocol)
            me = reply.get("user", user)
            if self.inbox.me != me:
                self.inbox.reset(me)
            self.user = me
            self.credentials = (user, password)
            self.listener.loggedIn(reply, again)
            self.outbox.connected(self.request)
            return reply

        return d.addCallback(loggedIn)

    def logout(self):
        """
        Log out; the server closes the connection (and we reconnect, logged
        out).
        """
        self.credentials = None
        self.inbox.flushAcks()

        def done(reply):
            # The server now closes this connection.
            self._loggedOut = True
            return reply

        return self.request("logout").addCallback(done)

    def send(self, conversation, text):
        """
        Send a message now, or once connected and logged in again.

        @return: the L{chatroom.client.outbox.Outgoing}.
        """
        item = self.outbox.add(conversation, text)

        def stored(reply):
            msgId = reply.get("msg_id")
            if isinstance(msgId, str):
                self.inbox.sent(conversation, msgId)
            return reply

        item.deferred.addCallback(stored)
        return item

    def _sendAck(self, conversation, msgId):
        if self.user is None:
            return fail(NotConnected("not logged in"))
        return self.request("ack", upto=msgId, **conversation.fields())

    # Events.

    def _eventReceived(self, event):
        if event.get("type") == "message":
            self.inbox.received(event)
        elif event.get("type") == "bye" and event.get("reason") in FINAL_REASONS:
            # Logging in again with these credentials cannot work now.
            self.credentials = None
            self.listener.eventReceived(event)
        else:
            self.listener.eventReceived(event)
