# -*- test-case-name: tests.test_server -*-
"""
The chat service: it owns the online registry and the stores, gives each
connection a L{Session}, and delivers events to local connections.  The port
factories only reference it.
"""

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.protocol import Factory
from twisted.logger import Logger

from chatroom import errors
from chatroom.backlog import MissedMessages
from chatroom.debug import JSONLineProtocol
from chatroom.dispatch import Dispatcher
from chatroom.handlers.accounts import AccountHandler
from chatroom.handlers.chat import ChatHandler
from chatroom.handlers.groups import GroupHandler
from chatroom.messages import presenceEvent
from chatroom.protocol import DEFAULT_MAX_FRAME, JSONFrameProtocol, encode
from chatroom.registry import PresenceRegistry
from chatroom.session import Session
from chatroom.store.accounts import AccountStore
from chatroom.store.groups import GroupStore
from chatroom.store.messages import DEFAULT_RETENTION, MessageStore
from chatroom.store.presence import PresenceStore

#: Presence events skip groups with more members than this.
DEFAULT_PRESENCE_MAX_GROUP = 500


class ChatService(Service):
    """
    The chat server of one node.

    @ivar registry: the L{PresenceRegistry} of this node's connections.
    @ivar dispatcher: the L{Dispatcher} of request handlers.
    """

    log = Logger()

    def __init__(self, reactor, link, hasher, node, retention=DEFAULT_RETENTION,
                 presenceMaxGroup=DEFAULT_PRESENCE_MAX_GROUP, maxFrame=DEFAULT_MAX_FRAME):
        self.reactor = reactor
        self.link = link
        self.hasher = hasher
        self.node = node
        self.presenceMaxGroup = presenceMaxGroup
        self.maxFrame = maxFrame
        self.registry = PresenceRegistry()
        self.accounts = AccountStore(link)
        self.presence = PresenceStore(link, node)
        self.groups = GroupStore(link)
        self.messages = MessageStore(link, retention)
        self.dispatcher = Dispatcher()
        for handler in (AccountHandler(self), ChatHandler(self), GroupHandler(self)):
            self.dispatcher.addHandler(handler)
        self.sessions = set()
        self.ready = defer.Deferred()

    def startService(self):
        super().startService()
        self._background(self._prepare(), "preparing storage")

    async def _prepare(self):
        await self.link.whenConnected()
        await self.accounts.ensureLobby()
        # Connections this node had before it restarted are gone.
        gone = await self.presence.resetNode()
        if gone:
            self.log.info("Cleared {count} users left online by an earlier run of node {node}", count=len(gone), node=self.node)
        self.log.info("Node {node} ready", node=self.node)
        self.ready.callback(self)

    def _background(self, coroutine, what):
        """
        Run C{coroutine} without waiting for it; a failure is logged.
        """
        d = defer.ensureDeferred(coroutine)
        d.addErrback(lambda f: self.log.failure("Failed {what}", f, what=what))
        return d

    # Sessions.

    def openSession(self, protocol):
        """
        A new connection: its L{Session}.
        """
        session = Session(self, protocol)
        self.sessions.add(session)
        return session

    async def loggedIn(self, session, user):
        """
        Make C{session} a connection of C{user}: count it online and tell
        the user's neighbours if it is the first.

        @return: the number of users online.
        """
        first, online, groups = await self.presence.connect(user)
        if not session.connected:
            # Gone while we were counting it: count it out again.
            await self.presence.disconnect(user)
            return online
        session.user = user
        self.registry.add(session, groups)
        if first:
            self.deliver(self.registry.neighbours(user, self.presenceMaxGroup), encode(presenceEvent(user, True)))
        session.callAfterReply(self._pushMissed, session)
        return online

    def _pushMissed(self, session):
        self._background(MissedMessages(self, session).run(), "pushing missed messages")

    def loggedOut(self, session):
        """
        C{session} is no longer a connection of its user.
        """
        user = session.user
        if user is None:
            return
        audience = self.registry.neighbours(user, self.presenceMaxGroup)
        self.registry.remove(session)
        session.user = None
        self._background(self._countOut(user, audience), "counting out %s" % (user,))

    async def _countOut(self, user, audience):
        while True:
            try:
                last = await self.presence.disconnect(user)
                break
            except errors.Unavailable:
                # The online set must not keep a ghost: retry once Redis is back.
                await self.link.whenConnected()
        if last:
            self.deliver(audience, encode(presenceEvent(user, False)))

    def sessionClosed(self, session):
        """
        C{session}'s connection is gone.
        """
        self.sessions.discard(session)
        self.loggedOut(session)

    # Delivery to this node's connections.

    def deliver(self, users, payload, exclude=None):
        """
        Write C{payload} (encoded once) to every session of C{users}.
        """
        sessions = self.registry.sessions
        for user in users:
            for session in sessions(user):
                if session is not exclude:
                    session.sendPayload(payload)

    def deliverMessage(self, users, stream, msgId, payload, exclude=None):
        """
        Like L{deliver}, for a stored message: sessions still receiving
        their missed messages remember it so that it is not pushed twice.
        """
        sessions = self.registry.sessions
        for user in users:
            for session in sessions(user):
                if session is not exclude:
                    if session.seen is not None:
                        session.seen.add((stream, msgId))
                    session.sendPayload(payload)


class ChatFactory(Factory):
    """
    The factory of a port: each connection gets a session of the service.
    """

    def __init__(self, service, protocol=JSONFrameProtocol):
        self.service = service
        self.protocol = protocol
        self.maxFrame = service.maxFrame

    def openSession(self, protocol):
        """
        Called by a protocol when its connection is made.
        """
        return self.service.openSession(protocol)


def debugFactory(service):
    """
    The factory of the JSON-lines debug port.
    """
    return ChatFactory(service, JSONLineProtocol)
