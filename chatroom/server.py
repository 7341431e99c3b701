# -*- test-case-name: tests.test_server -*-
"""
The chat service: it owns the online registry and the stores, gives each
connection a L{Session}, and delivers events to local connections.  The port
factories only reference it.
"""

from collections import Counter

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.protocol import Factory
from twisted.logger import Logger

from chatroom import errors
from chatroom.backlog import MissedMessages
from chatroom.cluster import DEFAULT_NODE_TIMEOUT, NodeMonitor, Relay, SingleNode
from chatroom.debug import JSONLineProtocol
from chatroom.dispatch import Dispatcher
from chatroom.handlers.accounts import AccountHandler
from chatroom.handlers.chat import ChatHandler
from chatroom.handlers.groups import GroupHandler
from chatroom.limits import Limiter
from chatroom.liveness import IdleSweeper
from chatroom.messages import groupEvent, presenceEvent
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
                 presenceMaxGroup=DEFAULT_PRESENCE_MAX_GROUP, maxFrame=DEFAULT_MAX_FRAME, limits=None,
                 subscriber=None, nodeTimeout=DEFAULT_NODE_TIMEOUT):
        """
        @param link: the L{RedisLink} for commands; started and stopped
            with this service.
        @param subscriber: a L{RedisLink} with a L{RelayProtocol} for
            pub/sub between nodes, or C{None} for a node that is alone.
        """
        self.reactor = reactor
        self.link = link
        self.hasher = hasher
        self.node = node
        self.presenceMaxGroup = presenceMaxGroup
        self.maxFrame = maxFrame
        # What one client may cost: rates, idle timeout, buffer, connections.
        self.limiter = Limiter(reactor, limits)
        self.registry = PresenceRegistry()
        self.accounts = AccountStore(link)
        self.presence = PresenceStore(link, node)
        self.groups = GroupStore(link)
        self.messages = MessageStore(link, retention, reactor)
        self.dispatcher = Dispatcher(self.limiter)
        for handler in (AccountHandler(self), ChatHandler(self), GroupHandler(self)):
            self.dispatcher.addHandler(handler)
        self.sessions = set()
        self.idleSweeper = IdleSweeper(reactor, self.limiter.limits.idleTimeout, self.sessions)
        self.ready = defer.Deferred()
        # Logins whose count in Redis is under way, by user, and count-outs
        # waiting for the re-count that follows a Redis outage.
        self._counting = Counter()
        self._resyncWaiters = []
        if link is not None:
            link.onConnected(self._linkConnected)
        self.subscriber = subscriber
        if subscriber is None:
            self.relay = SingleNode(self)
            self.monitor = None
        else:
            self.relay = Relay(self, subscriber)
            self.monitor = NodeMonitor(self, nodeTimeout)

    def startService(self):
        super().startService()
        self.link.startService()
        if self.subscriber is not None:
            self.subscriber.startService()
        self._background(self._prepare(), "preparing storage")

    async def _prepare(self):
        while True:
            await self.link.whenConnected()
            try:
                await self.accounts.ensureLobby()
                # Connections this node had before it restarted are gone.
                gone = await self.presence.resetNode()
                break
            except errors.Unavailable:
                # Lost Redis again at once: start over when it is back.
                continue
        if gone:
            self.log.info("Cleared {count} users left online by an earlier run of node {node}", count=len(gone), node=self.node)
        if self.monitor is not None:
            # Listen, join the nodes set, then say hello, in this order
            # (see Relay.hello).
            await self.relay.whenListening()
            await self.monitor.beat()
            self.relay.hello()
            self.monitor.startService()
        self.log.info("Node {node} ready", node=self.node)
        self.ready.callback(self)

    def stopService(self):
        super().stopService()
        return defer.ensureDeferred(self._stop())

    async def _stop(self):
        self.idleSweeper.stop()
        if self.monitor is not None and self.monitor.running:
            await self.monitor.stopService()
        if self.link.connected:
            try:
                # Say goodbye: this node's users are offline now, not when
                # the others notice its liveness key expired.
                for user in await self.presence.resetNode():
                    self.relay.presence(user, self.registry.smallGroups(user, self.presenceMaxGroup),
                                        encode(presenceEvent(user, False)))
                if self.monitor is not None:
                    await self.monitor.goodbye()
            except errors.ChatError:
                pass
        if self.subscriber is not None:
            await self.subscriber.stopService()
        await self.link.stopService()

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
        self.idleSweeper.start()
        self.limiter.admit(session)
        return session

    async def loggedIn(self, session, user):
        """
        Make C{session} a connection of C{user}: count it online and tell
        the user's neighbours if it is the first.

        @return: the number of users online.
        """
        self._counting[user] += 1
        try:
            first, online, groups = await self.presence.connect(user)
        finally:
            self._counting[user] -= 1
            if not self._counting[user]:
                del self._counting[user]
        if not session.connected:
            # Gone while we were counting it: count it out again.
            await self.presence.disconnect(user)
            return online
        session.user = user
        # From the moment it can get live messages until its missed ones
        # are pushed, the session remembers what it got live.
        session.seen = set()
        self.registry.add(session, groups)
        # Before the login completes, so no group message published from now
        # on can pass this node by.
        await self.relay.watchGroups(groups)
        if first:
            self._announce(user, True)
        session.callAfterReply(self._pushMissed, session)
        return online

    def _announce(self, user, online):
        payload = encode(presenceEvent(user, online))
        registry, limit = self.registry, self.presenceMaxGroup
        self.deliver(registry.neighbours(user, limit), payload)
        self.relay.presence(user, registry.smallGroups(user, limit), payload)

    def announceOffline(self, user, groups):
        """
        C{user}, connected to a node that died, is offline: tell its
        neighbours in C{groups} on every node.
        """
        payload = encode(presenceEvent(user, False))
        members = self.registry.members
        audience = set()
        for group in groups:
            audience.update(members(group))
        audience.discard(user)
        self.deliver(audience, payload)
        self.relay.presence(user, groups, payload)

    def _pushMissed(self, session):
        self._background(MissedMessages(self, session).run(), "pushing missed messages")

    def loggedOut(self, session):
        """
        C{session} is no longer a connection of its user.
        """
        user = session.user
        if user is None:
            return
        registry, limit = self.registry, self.presenceMaxGroup
        audience = registry.neighbours(user, limit)
        groups = registry.smallGroups(user, limit)
        allGroups = list(registry.groupsOf(user))
        if registry.remove(session):
            self.relay.unwatchGroups(allGroups)
        session.user = None
        self._background(self._countOut(user, audience, groups), "counting out %s" % (user,))

    async def _countOut(self, user, audience, groups):
        try:
            last = await self.presence.disconnect(user)
        except errors.Unavailable:
            last = None
        while last is None:
            if not self.running:
                return
            # Redis is away, and this count-out may or may not have happened.
            # The re-count that follows the reconnection (resyncPresence)
            # counts this connection out; running it again would count it
            # out twice.  Whether the user is gone can be asked after it.
            await self._nextResync()
            try:
                last = not await self.presence.isOnline(user)
            except errors.Unavailable:
                pass
        if last:
            payload = encode(presenceEvent(user, False))
            self.deliver(audience, payload)
            self.relay.presence(user, groups, payload)

    # Presence after a Redis outage.

    def _linkConnected(self, connection):
        # The first connection is _prepare's; every later one follows an
        # outage, during which count-ins and count-outs may have been lost
        # (or Redis itself, if it keeps no data).
        if self.running and self.ready.called:
            self._background(self._resyncQuietly(), "re-counting this node's users")

    async def _resyncQuietly(self):
        try:
            await self.resyncPresence()
        except errors.Unavailable:
            # Lost again: the next reconnection tries again.
            self.log.warn("Redis was lost again before this node's users were re-counted")

    def _nextResync(self):
        d = defer.Deferred()
        self._resyncWaiters.append(d)
        return d

    async def resyncPresence(self):
        """
        Make Redis's record of this node's logged-in connections match the
        connections this node has (and the lobby exist), whatever Redis held:
        run when the connection to Redis comes back after an outage.
        Connections that closed meanwhile are counted out, the ones still
        open counted in.
        """
        counts = Counter(self._counting)
        for user in self.registry.users():
            counts[user] += len(self.registry.sessions(user))
        await self.accounts.ensureLobby()
        liveness = self.monitor.timeout if self.monitor is not None else 0
        gone, back = await self.presence.resync(+counts, liveness)
        self.log.info(
            "Re-counted {count} users of node {node} after reconnecting to Redis "
            "({gone} gone, {back} restored)", count=len(counts), node=self.node, gone=len(gone), back=len(back))
        waiters, self._resyncWaiters = self._resyncWaiters, []
        for d in waiters:
            d.callback(None)

    async def joinedGroup(self, session, group, created=False):
        """
        C{session}'s user joined (or created) C{group}: follow the group
        on every node where the user is connected, and tell the members.
        """
        user = session.user
        self.registry.joined(user, group, size=1 if created else None)
        await self.relay.watchGroups([group])
        self.relay.membership(user, group, True)
        if not created:
            payload = encode(groupEvent(group, user, True))
            self.deliver(self.registry.members(group), payload, exclude=session)
            self.relay.groupEvent(group, payload)

    def leftGroup(self, session, group):
        """
        C{session}'s user left C{group}: tell the members (the user's other
        connections included) and stop following the group.
        """
        user = session.user
        payload = encode(groupEvent(group, user, False))
        self.deliver(self.registry.members(group), payload, exclude=session)
        self.relay.groupEvent(group, payload)
        self.registry.left(user, group)
        self.relay.membership(user, group, False)
        self.relay.unwatchGroups([group])

    def sessionClosed(self, session):
        """
        C{session}'s connection is gone.
        """
        self.sessions.discard(session)
        self.limiter.release(session)
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
