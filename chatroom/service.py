# -*- test-case-name: tests.test_presence -*-
"""
The chat service of one node: it builds the parts of the server, hands each
the others it needs, and starts and stops them.  It holds no rule of its
own; see docs/architecture.rst for what each part does.
"""

from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger

from chatroom import errors
from chatroom.backlog import Backlog
from chatroom.delivery import Delivery
from chatroom.dispatch import Dispatcher
from chatroom.handlers.accounts import AccountHandler
from chatroom.handlers.chat import ChatHandler
from chatroom.handlers.controls import ControlHandler
from chatroom.handlers.conversations import ConversationHandler
from chatroom.handlers.groups import GroupHandler
from chatroom.limits import Limiter
from chatroom.metrics import NO_METRICS
from chatroom.nodes import DEFAULT_NODE_TIMEOUT, NodeMonitor
from chatroom.presence import DEFAULT_PRESENCE_MAX_GROUP, Presence
from chatroom.registry import PresenceRegistry
from chatroom.relay import Relay
from chatroom.session import Sessions


class ChatService(Service):
    """
    One node of the chat server, on a store.

    @ivar sessions: the L{Sessions} the port factories open connections in.
    @ivar store, registry, delivery, presence, relay, monitor: the parts,
        for the manhole to look at.
    @ivar admins: the server admins' user names: every right of a group's
        owner in every group, and the server-wide bans.
    @ivar ready: a Deferred that fires once the node serves logins.
    """

    log = Logger()

    def __init__(self, reactor, store, hasher, node, presenceMaxGroup=DEFAULT_PRESENCE_MAX_GROUP,
                 limits=None, nodeTimeout=DEFAULT_NODE_TIMEOUT, admins=frozenset(), metrics=NO_METRICS):
        """
        @param store: the L{IChatStore}; started and stopped with this
            service.
        @param hasher: the L{PasswordHasher}.
        @param node: this node's id.
        @param limits: the L{Limits} of what one client may cost.
        @param admins: the server admins' user names (C{--admin}).
        @param metrics: the L{chatroom.metrics.Metrics} the parts report
            to (L{NO_METRICS}: none).
        """
        self.store = store
        self.admins = frozenset(admins)
        self.node = node
        registry = PresenceRegistry()
        self.relay = relay = Relay(store.nodes, node, registry, metrics)
        delivery = Delivery(registry, relay, metrics, reactor)
        self.presence = presence = Presence(store.presence, registry, relay, delivery, presenceMaxGroup)
        presence.liveness = nodeTimeout
        presence.blocksOf = store.controls.blocksOf
        relay.attach(delivery, presence)
        self.monitor = NodeMonitor(reactor, store, relay, presence, nodeTimeout)
        limiter = Limiter(reactor, limits)
        dispatcher = Dispatcher(limiter, metrics)
        relay.settingsListener = conversations = ConversationHandler(
            store.messages, store.conversations, presence, delivery, reactor, self.admins)
        for handler in (
            AccountHandler(store.accounts, store.presence, presence, Backlog(store.messages, delivery, reactor),
                           hasher, limiter.logins, metrics, controls=store.controls),
            ChatHandler(store.messages, presence, delivery, self.admins),
            ControlHandler(store.controls, store.accounts, store.presence, delivery, relay, hasher,
                           limiter.logins, self.admins),
            conversations,
            GroupHandler(store.groups, store.messages, presence, delivery,
                         limiter.limits.maxGroupsPerUser, limiter.limits.maxGroupMembers,
                         store.accounts, self.admins),
        ):
            dispatcher.addHandler(handler)
        # Requests wait for _prepare (see Dispatcher.storageReady).
        dispatcher.storageReady = False
        self._dispatcher = dispatcher
        self.sessions = Sessions(reactor, dispatcher, limiter, presence, metrics)
        self.registry = registry
        self.delivery = delivery
        self.ready = defer.Deferred()
        store.onConnected(self._storeConnected)

    def startService(self):
        super().startService()
        self.store.startService()
        d = defer.ensureDeferred(self._prepare())
        d.addErrback(lambda f: self.log.failure("Failed preparing storage", f))

    async def _prepare(self):
        store = self.store
        while True:
            await store.whenConnected()
            try:
                # Data of an earlier release is moved to this one's layout
                # (or another node is doing it: this waits).
                await store.prepare()
                await store.accounts.ensureLobby()
                # Connections this node had before it restarted are gone.
                await self.presence.reset()
                break
            except errors.Unavailable:
                # Lost the store again at once: start over when it is back.
                continue
        # Listen, join the nodes set, then say hello, in this order (see
        # Relay.hello).
        await self.relay.whenListening()
        await self.monitor.beat()
        self.relay.hello()
        self.monitor.startService()
        self._dispatcher.storageReady = True
        self.log.info("Node {node} ready", node=self.node)
        self.ready.callback(self)

    def _storeConnected(self):
        # The first connection is _prepare's; every later one follows an
        # outage, during which count-ins and count-outs may have been lost
        # (or the store itself, if it keeps no data).
        if self.running and self.ready.called:
            d = defer.ensureDeferred(self._recount())
            d.addErrback(lambda f: self.log.failure("Failed re-counting this node's users", f))

    async def _recount(self):
        try:
            await self.store.accounts.ensureLobby()
            await self.presence.resync()
        except errors.Unavailable:
            # Lost again: the next reconnection tries again.
            self.log.warn("Storage was lost again before this node's users were re-counted")

    def stopService(self):
        super().stopService()
        return defer.ensureDeferred(self._stop())

    async def _stop(self):
        self.sessions.stop()
        for session in list(self.sessions):
            session.bye("shutdown")
        if self.monitor.running:
            await defer.maybeDeferred(self.monitor.stopService)
        if self.store.connected:
            try:
                # Say goodbye: this node's users are offline now, not when
                # the others notice its liveness key expired.
                await self.presence.goodbye()
                await self.monitor.goodbye()
            except errors.ChatError:
                pass
        await defer.maybeDeferred(self.store.stopService)
