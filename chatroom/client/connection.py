# -*- test-case-name: tests.test_client_connection -*-
"""
One user's session over a connection that comes and goes.

L{ClientService} reconnects with exponential backoff; each new connection
logs in again with the credentials of the last successful login before it
is used, then the outbox sends whatever was typed in between.
"""

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionLost
from twisted.internet.protocol import Factory
from twisted.logger import Logger

from chatroom.client.inbox import Inbox
from chatroom.client.outbox import Outbox
from chatroom.client.protocol import ChatClientProtocol
from chatroom.errors import AuthFailed

#: first reconnect after about a second, then up to half a minute apart
DEFAULT_BACKOFF = backoffPolicy(initialDelay=0.5, maxDelay=30.0, factor=2.0)


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
        self.user = None
        self.credentials = None
        self.everConnected = False
        self.stopping = False
        self.outbox = Outbox(clock)
        self.inbox = Inbox(clock, listener, self._sendAck)
        self._retryPolicy = retryPolicy
        self.service = ClientService(
            endpoint,
            Factory.forProtocol(self._buildProtocol),
            retryPolicy=self._policy,
            clock=clock,
            prepareConnection=self._prepare,
        )

    # Connection life cycle.

    def start(self):
        """
        Start connecting (and reconnecting).
        """
        self.service.startService()

    def stop(self):
        """
        Stop for good: close the connection, cancel every timer.

        @return: a Deferred that fires once the connection is closed.
        """
        self.stopping = True
        # What was shown is acknowledged before the connection closes (the
        # acks are written before the close), or it comes back next time.
        self.inbox.flushMissed()
        self.inbox.flushAcks()
        self.inbox.stop()
        self.outbox.disconnected()
        return self.service.stopService()

    def whenConnected(self, failAfterFailures=None):
        """
        A Deferred for the current or next connection's protocol.
        """
        return self.service.whenConnected(failAfterFailures=failAfterFailures)

    def _buildProtocol(self):
        return ChatClientProtocol(self._eventReceived, self._connectionLost)

    def _policy(self, attempt):
        delay = self._retryPolicy(attempt)
        if not self.stopping:
            self.listener.retrying(attempt, delay)
        return delay

    def _prepare(self, proxy):
        # ClientService hands over a proxy; the protocol is what we built.
        protocol = getattr(proxy, "_protocol", proxy)
        self.protocol = protocol
        again = self.everConnected
        self.everConnected = True
        self.listener.connected(again)
        if self.credentials is None:
            return None
        user, password = self.credentials
        d = self._login(user, password, again=True)

        def failed(failure):
            if failure.check(AuthFailed):
                # The password no longer works: do not retry it forever.
                self.credentials = None
                self.listener.loginLost(failure.value)
                return None
            # Storage down, connection gone...: reject this connection, so
            # ClientService backs off and tries again.
            if protocol.transport is not None:
                protocol.transport.loseConnection()
            return failure

        return d.addErrback(failed)

    def _connectionLost(self, reason):
        self.protocol = None
        wasUser = self.user
        self.user = None
        self.outbox.disconnected()
        if not self.stopping:
            self.listener.disconnected(reason, wasUser)

    # Requests.

    def request(self, type, **fields):
        """
        Send a request on the current connection.

        @return: a Deferred firing with the C{ok} reply; fails with
            L{NotConnected} when there is no connection.
        """
        if self.protocol is None:
            d = Deferred()
            d.errback(NotConnected("not connected to the server"))
            return d
        return self.protocol.request(type, **fields)

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
        d = self.request("login", user=user, password=password)

        def loggedIn(reply):
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
        return self.request("logout")

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
            d = Deferred()
            d.errback(NotConnected("not logged in"))
            return d
        return self.request("ack", upto=msgId, **conversation.fields())

    # Events.

    def _eventReceived(self, event):
        if event.get("type") == "message":
            self.inbox.received(event)
        else:
            self.listener.eventReceived(event)
