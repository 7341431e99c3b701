# -*- test-case-name: tests.test_cluster -*-
"""
Several server processes serving one user base through one Redis.

Every server is a node.  L{NodeMonitor} keeps a node's liveness key fresh
and counts out the users of nodes that died without saying goodbye.
L{Relay} carries what one node must tell others over Redis pub/sub: a
direct message to the nodes of its recipient and sender, a group message
once to every node with online members of the group (each node subscribes
to the channels of the groups it has members of), presence and membership
changes to every node.

Messages between users of the same node never touch pub/sub.
"""

from twisted.application.internet import TimerService
from twisted.internet import defer
from twisted.logger import Logger
from txredisapi import SubscriberProtocol

from chatroom.store import keys
from chatroom.store.link import Script

DEFAULT_NODE_TIMEOUT = 15

#: Separates the fields of an envelope; never part of a name or node id.
_SEP = b"\x1f"
#: Separates the groups in a presence envelope.
_LIST = b"\x1e"

_heartbeat = Script("heartbeat")
_reapNodes = Script("reap_nodes")


class RelayProtocol(SubscriberProtocol):
    """
    The pub/sub connection: hands every message to the L{Relay}.
    """

    def messageReceived(self, pattern, channel, message):
        self.factory.link.relay.received(message)


class SingleNode:
    """
    The relay of a node that is alone (no pub/sub link): nothing to relay.
    """

    multiNode = False

    def __init__(self, service):
        self.nodes = {service.node}

    def watchGroups(self, groups):
        return defer.succeed(None)

    def whenListening(self):
        return defer.succeed(None)

    def hello(self):
        pass

    def unwatchGroups(self, groups):
        pass

    def direct(self, nodes, to, sender, msgId, payload):
        pass

    def group(self, group, msgId, payload):
        pass

    def groupEvent(self, group, payload):
        pass

    def membership(self, user, group, joined):
        pass

    def presence(self, user, groups, payload):
        pass


class Relay:
    """
    Pub/sub between nodes.

    @ivar nodes: the nodes known to exist (refreshed by L{NodeMonitor}).
    """

    log = Logger()

    def __init__(self, service, subscriber):
        self.service = service
        self.node = service.node
        self.link = service.link
        self.subscriber = subscriber
        subscriber.relay = self
        subscriber.onConnected(self._resubscribe)
        self.nodes = {self.node}
        self._groups = set()
        self.listening = False
        self._whenListening = []
        self._greeted = False
        self._encodedNode = self.node.encode("utf-8")
        self._handlers = {
            b"m": self._direct, b"g": self._group, b"e": self._groupEvent,
            b"p": self._presence, b"j": self._joined, b"l": self._left,
            b"h": self._hello,
        }

    @property
    def multiNode(self):
        """
        Whether other nodes exist, so that pub/sub is needed at all.
        """
        return len(self.nodes) > 1

    # Subscriptions.

    def _channels(self):
        return [keys.nodeChannel(self.node), keys.BROADCAST] + [keys.groupChannel(g) for g in self._groups]

    def _resubscribe(self, conn):
        # A new pub/sub connection (first or after an outage) subscribes
        # to everything this node listens to; once Redis confirmed it, the
        # node can hear the hello of any node that starts after this one.
        d = defer.gatherResults([conn.subscribe(channel) for channel in self._channels()], consumeErrors=True)
        d.addCallback(self._subscribed)
        d.addErrback(self._logFailure, "subscribing")

    def _subscribed(self, ignored):
        self.listening = True
        waiting, self._whenListening = self._whenListening, []
        for d in waiting:
            d.callback(None)
        if self._greeted:
            self.hello()

    def whenListening(self):
        """
        A Deferred that fires once this node's subscriptions are confirmed.
        """
        if self.listening:
            return defer.succeed(None)
        d = defer.Deferred()
        self._whenListening.append(d)
        return d

    def hello(self):
        """
        Tell the other nodes that this one exists.

        Said first after this node listens and has added itself to the
        nodes set: of two nodes starting together, the one whose heartbeat
        ran first listens before the other says hello, and the other saw
        it in the nodes set, so they know each other at once rather than
        at their next heartbeat.
        """
        self._greeted = True
        self.publish(keys.BROADCAST, [b"h", self._encodedNode])

    def _subscriber(self):
        for conn in self.subscriber.factory.pool:
            if conn.connected:
                return conn
        return None

    def watchGroups(self, groups):
        """
        Listen to the channels of C{groups} (which now have local members).
        A Deferred that fires once Redis confirmed the new subscriptions, so
        that nothing published afterwards can be missed.
        """
        new = [g for g in groups if g not in self._groups]
        if not new:
            return defer.succeed(None)
        self._groups.update(new)
        conn = self._subscriber()
        if conn is None:
            # Subscribed on reconnection.
            return defer.succeed(None)
        return defer.gatherResults(
            [conn.subscribe(keys.groupChannel(g)) for g in new], consumeErrors=True
        ).addErrback(self._logFailure, "subscribing")

    def unwatchGroups(self, groups):
        """
        Stop listening to the channels of those of C{groups} that have no
        local member left.
        """
        members = self.service.registry.members
        gone = [g for g in groups if g in self._groups and not members(g)]
        if not gone:
            return
        self._groups.difference_update(gone)
        conn = self._subscriber()
        if conn is not None:
            for g in gone:
                conn.unsubscribe(keys.groupChannel(g)).addErrback(self._logFailure, "unsubscribing")

    # Publishing.

    def publish(self, channel, fields):
        """
        Publish an envelope made of C{fields} (bytes) on C{channel}.
        Fire and forget: a lost publish loses only a live copy; the message
        itself is stored and pushed again at the next login.
        """
        try:
            d = self.link.execute("PUBLISH", channel, _SEP.join(fields))
        except Exception:
            return
        d.addErrback(self._logFailure, "publishing")

    def _logFailure(self, failure, what):
        self.log.warn("Pub/sub failed {what}: {error}", what=what, error=failure.getErrorMessage())

    def direct(self, nodes, to, sender, msgId, payload):
        """
        Send a stored direct message to the other C{nodes} of its users.
        """
        fields = None
        for node in set(nodes):
            if node == self.node:
                continue
            if fields is None:
                fields = [b"m", self._encodedNode, msgId.encode(), to.encode("utf-8"), sender.encode("utf-8"), payload]
            self.publish(keys.nodeChannel(node), fields)

    def group(self, group, msgId, payload):
        """
        Send a stored group message to the other nodes with members online.
        """
        if self.multiNode:
            self.publish(keys.groupChannel(group), [b"g", self._encodedNode, group.encode("utf-8"), msgId.encode(), payload])

    def groupEvent(self, group, payload):
        """
        Send a C{group} event to the other nodes with members online.
        """
        if self.multiNode:
            self.publish(keys.groupChannel(group), [b"e", self._encodedNode, group.encode("utf-8"), payload])

    def membership(self, user, group, joined):
        """
        Tell the other nodes that C{user} joined or left C{group}, so that
        its connections there follow the group.
        """
        if self.multiNode:
            kind = b"j" if joined else b"l"
            self.publish(keys.BROADCAST, [kind, self._encodedNode, user.encode("utf-8"), group.encode("utf-8")])

    def presence(self, user, groups, payload):
        """
        Send a C{presence} event of C{user} to the other nodes, for their
        members of C{groups} (the user's groups small enough for presence).
        """
        if self.multiNode and groups:
            self.publish(keys.BROADCAST, [
                b"p", self._encodedNode, user.encode("utf-8"),
                _LIST.join(g.encode("utf-8") for g in groups), payload,
            ])

    # Receiving.

    def received(self, message):
        """
        An envelope arrived on one of our channels.
        """
        if isinstance(message, str):
            message = message.encode("utf-8")
        parts = message.split(_SEP, 2)
        if len(parts) < 2:
            self.log.warn("Malformed relay envelope {message!r}", message=message[:80])
            return
        kind, origin = parts[0], parts[1]
        rest = parts[2] if len(parts) > 2 else b""
        if origin == self._encodedNode:
            return
        handler = self._handlers.get(kind)
        if handler is None:
            self.log.warn("Unknown relay envelope {kind!r}", kind=kind)
            return
        try:
            handler(origin.decode("utf-8"), rest)
        except Exception:
            self.log.failure("Relay envelope {kind!r} failed", kind=kind)

    def _direct(self, origin, rest):
        msgId, to, sender, payload = rest.split(_SEP, 3)
        to, sender, msgId = to.decode("utf-8"), sender.decode("utf-8"), msgId.decode()
        users = (to,) if to == sender else (to, sender)
        self.service.deliverMessage(users, keys.directStream(sender, to), msgId, payload)

    def _group(self, origin, rest):
        group, msgId, payload = rest.split(_SEP, 2)
        group = group.decode("utf-8")
        self.service.deliverMessage(
            self.service.registry.members(group), keys.groupStream(group), msgId.decode(), payload
        )

    def _groupEvent(self, origin, rest):
        group, payload = rest.split(_SEP, 1)
        self.service.deliver(self.service.registry.members(group.decode("utf-8")), payload)

    def _presence(self, origin, rest):
        user, groups, payload = rest.split(_SEP, 2)
        user = user.decode("utf-8")
        members = self.service.registry.members
        audience = set()
        for group in groups.split(_LIST):
            audience.update(members(group.decode("utf-8")))
        audience.discard(user)
        self.service.deliver(audience, payload)

    def _joined(self, origin, rest):
        user, group = (part.decode("utf-8") for part in rest.split(_SEP, 1))
        if user in self.service.registry:
            self.service.registry.joined(user, group)
            self.watchGroups([group])

    def _left(self, origin, rest):
        user, group = (part.decode("utf-8") for part in rest.split(_SEP, 1))
        if user in self.service.registry:
            self.service.registry.left(user, group)
            self.unwatchGroups([group])

    def _hello(self, origin, rest):
        if origin not in self.nodes:
            self.nodes.add(origin)
            self.log.info("Node {node} joined", node=origin)


class NodeMonitor(TimerService):
    """
    Keeps this node's liveness key fresh, learns which nodes exist, and
    counts out the users of nodes whose key expired: within C{timeout}
    seconds (plus one beat) of a node's death its users are offline and
    their neighbours told so.
    """

    log = Logger()

    def __init__(self, service, timeout=DEFAULT_NODE_TIMEOUT):
        self.service = service
        self.timeout = timeout
        super().__init__(max(0.5, timeout / 3.0), self._beatInBackground)
        self.clock = service.reactor

    def _beatInBackground(self):
        d = defer.ensureDeferred(self.beat())
        d.addErrback(self._failed)
        return d

    def _failed(self, failure):
        if failure.check(Exception):
            self.log.warn("Node heartbeat failed: {error}", error=failure.getErrorMessage())

    async def beat(self):
        """
        One heartbeat: refresh liveness, learn the nodes, reap dead ones.
        """
        service = self.service
        link = service.link
        if not link.connected:
            return
        nodes = await link.run(
            _heartbeat, [keys.NODES, keys.nodeAlive(service.node)], [service.node, int(self.timeout * 1000)]
        )
        relay = service.relay
        if relay is not None:
            known = set(nodes) | {service.node}
            for node in known - relay.nodes:
                self.log.info("Node {node} is part of the cluster", node=node)
            relay.nodes = known
        reaped = await link.run(
            _reapNodes, [keys.NODES, keys.ONLINE],
            [keys.NODE, keys.LOCATIONS, keys.USER_GROUPS, keys.GROUP_MEMBERS, service.presenceMaxGroup],
        )
        dead = int(reaped[0])
        if dead:
            self.log.warn("Counted out {users} users of {nodes} dead node(s)", users=(len(reaped) - 1) // 2, nodes=dead)
            for i in range(1, len(reaped), 2):
                service.announceOffline(reaped[i], reaped[i + 1])

    async def goodbye(self):
        """
        Leave the cluster cleanly (the service has counted its users out).
        """
        service = self.service
        await service.link.execute("DEL", keys.nodeAlive(service.node))
        await service.link.execute("SREM", keys.NODES, service.node)
