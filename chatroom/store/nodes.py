# -*- test-case-name: tests.test_cluster -*-
"""
The nodes serving one user base through one Redis (or one Redis Cluster):
their liveness keys, the reaping of dead ones, and the pub/sub channels
envelopes travel on between them.
"""

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from chatroom.store import keys
from chatroom.store.interfaces import INodeStore
from chatroom.store.connection import allOf
from chatroom.store.pubsub import publisherFor


@implementer(INodeStore)
class NodeStore:
    """
    This node's record among the nodes, and its pub/sub channels.

    @ivar node: this node's id.
    """

    log = Logger()

    def __init__(self, link, pubsub, node, presence, groups):
        """
        @param link: the L{RedisLink} or L{ClusterLink} for commands.
        @param pubsub: the L{chatroom.store.pubsub.ClassicPubSub} or
            L{chatroom.store.pubsub.ShardedPubSub} envelopes travel on.
        @param presence: the L{PresenceStore} that counts a dead node's
            users out.
        @param groups: the L{GroupStore} (a dead node's users' groups).
        """
        self.link = link
        self.presence = presence
        self.groups = groups
        self.pubsub = pubsub
        self.node = node
        self._receiver = None
        self.listening = False
        self._whenListening = []
        self._onListening = []
        # This node's own channel and the broadcast one: listening once
        # both are subscribed to.
        self._own = {keys.nodeChannel(node), keys.BROADCAST}
        self._unconfirmed = set(self._own)
        pubsub.listen(self._received)
        pubsub.onSubscribed(self._subscribed)
        pubsub.subscribe(sorted(self._own))

    # Liveness.

    async def heartbeat(self, timeout):
        """
        Say this node is alive for C{timeout} seconds; the nodes known.
        """
        link = self.link
        _, _, nodes = await allOf([
            link.execute("SADD", keys.NODES, self.node),
            link.execute("SET", keys.nodeAlive(self.node), "1", "PX", int(timeout * 1000)),
            link.execute("SMEMBERS", keys.NODES),
        ])
        return nodes

    async def reap(self, presenceMaxGroup):
        """
        Count out the users of nodes whose liveness key expired.  Safe to run
        on several nodes at once: a dead node's users are reported by one.

        @return: C{(dead node count, [(user, small groups), ...])} for the
            users now offline everywhere.
        """
        link = self.link
        nodes = list(await link.execute("SMEMBERS", keys.NODES))
        alive = await allOf([link.execute("EXISTS", keys.nodeAlive(node)) for node in nodes])
        dead = [node for node, up in zip(nodes, alive) if not int(up) and node != self.node]
        users = []
        for node in dead:
            for user in await self.presence.resetNode(node):
                groups = await link.execute("SMEMBERS", keys.userGroups(user))
                sizes = await self.groups.memberships(user, list(groups))
                users.append((user, sorted(g for g, n in sizes.items() if n <= presenceMaxGroup)))
            await link.execute("SREM", keys.NODES, node)
        return len(dead), users

    async def goodbye(self):
        """
        Leave the set of nodes (this node's users are counted out already).
        """
        await allOf([
            self.link.execute("DEL", keys.nodeAlive(self.node)),
            self.link.execute("SREM", keys.NODES, self.node),
        ])

    # Subscriptions.

    def listen(self, receiver):
        """
        Call C{receiver(envelope)} for every envelope this node hears.
        """
        self._receiver = receiver

    def onListening(self, f):
        """
        Call C{f()} every time the subscriptions are confirmed (at start
        and every time this node's own channels were subscribed to again:
        after a reconnection of the pub/sub link, a failover, a slot move).
        """
        self._onListening.append(f)

    def _received(self, message):
        if isinstance(message, str):
            message = message.encode("utf-8")
        if self._receiver is not None:
            self._receiver(message)

    def _subscribed(self, channels):
        # Redis confirmed some subscriptions: the first time this node's
        # own ones are all in place it listens; every later time one of
        # them is made again (after an outage, a failover, a slot moved),
        # the hooks are told, as they are at first.
        if self._own.isdisjoint(channels):
            return
        if not self.listening:
            self._unconfirmed.difference_update(channels)
            if self._unconfirmed:
                return
            self.listening = True
            waiting, self._whenListening = self._whenListening, []
            for d in waiting:
                d.callback(None)
        for f in self._onListening:
            f()

    def whenListening(self):
        """
        A Deferred that fires once this node's subscriptions are confirmed.
        """
        if self.listening:
            return defer.succeed(None)
        d = defer.Deferred()
        self._whenListening.append(d)
        return d

    def watchGroups(self, groups):
        """
        Listen to the channels of C{groups}: a Deferred that fires once
        Redis confirmed the new subscriptions.
        """
        d = self.pubsub.subscribe([keys.groupChannel(g) for g in groups])
        return d.addErrback(self._logFailure, "subscribing")

    def unwatchGroups(self, groups):
        """
        Stop listening to the channels of C{groups}.
        """
        self.pubsub.unsubscribe([keys.groupChannel(g) for g in groups])

    # Publishing: fire and forget.  A lost publish loses only a live copy;
    # the message itself is stored and pushed again at the next login.

    def _publish(self, channel, envelope):
        self.pubsub.publish(channel, envelope).addErrback(self._logFailure, "publishing")

    def publishToNode(self, node, envelope):
        """
        Publish C{envelope} to C{node}.
        """
        self._publish(keys.nodeChannel(node), envelope)

    def publishToGroup(self, group, envelope):
        """
        Publish C{envelope} to the nodes that watch C{group}.
        """
        self._publish(keys.groupChannel(group), envelope)

    def broadcast(self, envelope):
        """
        Publish C{envelope} to every node.
        """
        self._publish(keys.BROADCAST, envelope)

    def _logFailure(self, failure, what):
        self.log.warn("Pub/sub failed {what}: {error}", what=what, error=failure.getErrorMessage())


class NodeAnnouncer:
    """
    What a process that is no node (C{chatroom-admin}) tells the nodes:
    envelopes published on the channels of L{NodeStore}, in the form of
    pub/sub they listen to (C{PUBLISH} on one Redis, C{SPUBLISH} on a
    Redis Cluster).  It listens to nothing and is in no set of nodes.
    Each publication waits for Redis: the process may exit right after.
    """

    def __init__(self, link):
        """
        @param link: the L{RedisLink} or L{ClusterLink} for commands.
        """
        self.publisher = publisherFor(link)

    async def broadcast(self, envelope):
        """
        Publish C{envelope} to every node: the number of nodes listening.
        """
        return int(await self.publisher.publish(keys.BROADCAST, envelope))

    async def publishToGroup(self, group, envelope):
        """
        Publish C{envelope} to the nodes that watch C{group}: their number.
        """
        return int(await self.publisher.publish(keys.groupChannel(group), envelope))
