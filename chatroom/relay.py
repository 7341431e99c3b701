# -*- test-case-name: tests.test_cluster -*-
"""
What one node tells the others.

Several server processes (nodes) serve one user base through one store.
L{Relay} carries, as envelopes published through the store's
L{chatroom.store.interfaces.INodeStore}: a direct message to the nodes of
its recipient and sender, a group message once to every node with online
members of the group (each node watches the groups it has members of),
presence and membership changes to every node, an event for some users
(C{read}, C{retract}) and a direct C{typing} to their nodes, a group's
C{typing} to the nodes with members online.  Messages between users of the
same node never leave it.
"""

from twisted.logger import Logger

from chatroom.metrics import NO_METRICS

#: Separates the fields of an envelope; never part of a name or node id.
_SEP = b"\x1f"
#: Separates the groups in a presence envelope.
_LIST = b"\x1e"


def kickEnvelope(origin, user, reason):
    """
    The envelope that tells every node to close the connections of C{user}
    with a C{bye} giving C{reason}, from C{origin} (a node id, or
    C{chatroom-admin}'s origin), to be broadcast.
    """
    return _SEP.join([b"k", origin.encode("utf-8"), user.encode("utf-8"), reason.encode()])


def deletedEnvelope(origin, group, payload):
    """
    The envelope that tells the nodes watching C{group} that it was
    deleted, with C{payload} (the encoded C{deleted} event) for its
    members there, from C{origin}; published to the group.
    """
    return _SEP.join([b"x", origin.encode("utf-8"), group.encode("utf-8"), payload])


def groupEventEnvelope(origin, group, payload):
    """
    The envelope of a C{group} event (C{payload}, encoded) for the members
    of C{group} on the nodes watching it, from C{origin}; published to the
    group.
    """
    return _SEP.join([b"e", origin.encode("utf-8"), group.encode("utf-8"), payload])


class Relay:
    """
    Envelopes between nodes: made here, published through the node store,
    and, when they arrive, handed to L{Delivery} (messages and group
    events) or L{Presence} (presence and membership).

    @ivar nodes: the nodes known to exist (kept by L{NodeMonitor}).
    """

    log = Logger()

    def __init__(self, store, node, registry, metrics=NO_METRICS):
        """
        @param store: the L{INodeStore}.
        @param node: this node's id.
        @param registry: this node's L{PresenceRegistry}.
        @param metrics: the L{chatroom.metrics.Metrics} that counts
            envelopes in and out, by kind.
        """
        self._in = metrics.relayIn
        self._out = metrics.relayOut
        self.store = store
        self.node = node
        self.registry = registry
        self.nodes = {node}
        # Where arriving envelopes go (see attach).
        self._delivery = None
        self._presenceOf = None
        self._greeted = False
        self._encodedNode = node.encode("utf-8")
        self._handlers = {
            b"m": self._direct, b"g": self._group, b"e": self._groupEvent,
            b"p": self._presence, b"j": self._joined, b"l": self._left,
            b"h": self._hello, b"f": self._groupEventAbout, b"u": self._membershipEvent, b"x": self._deleted,
            b"k": self._kicked, b"b": self._blockChanged, b"r": self._userEvent, b"s": self._groupSignal,
            b"t": self._typing, b"c": self._settingChanged,
        }
        #: Told C{settingChanged(user)} when a user changes a setting on
        #: another node (the handler that caches settings).
        self.settingsListener = None
        store.listen(self.received)
        store.onListening(self._listening)

    def attach(self, delivery, presence):
        """
        Hand arriving envelopes to C{delivery} and C{presence}.
        """
        self._delivery = delivery
        self._presenceOf = presence

    @property
    def multiNode(self):
        """
        Whether other nodes exist, so that relaying is needed at all.
        """
        return len(self.nodes) > 1

    # Subscriptions.

    def whenListening(self):
        """
        A Deferred that fires once this node hears what is published to it.
        """
        return self.store.whenListening()

    def _listening(self):
        # Subscribed again after an outage: say hello again, for the nodes
        # that started meanwhile.
        if self._greeted:
            self.hello()

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
        self._out[b"h"].inc()
        self.store.broadcast(_SEP.join([b"h", self._encodedNode]))

    def watchGroups(self, groups):
        """
        Hear what is published to C{groups} (which now have local members);
        a Deferred that fires once nothing published afterwards is missed.
        """
        return self.store.watchGroups(groups)

    def unwatchGroups(self, groups):
        """
        Stop hearing the groups among C{groups} with no local member left.
        """
        members = self.registry.members
        gone = [g for g in groups if not members(g)]
        if gone:
            self.store.unwatchGroups(gone)

    # Sending.

    def direct(self, nodes, to, sender, msgId, payload):
        """
        Send a stored direct message to the other C{nodes} of its users.
        """
        envelope = None
        for node in set(nodes):
            if node == self.node:
                continue
            if envelope is None:
                envelope = _SEP.join([
                    b"m", self._encodedNode, msgId.encode(), to.encode("utf-8"), sender.encode("utf-8"), payload,
                ])
            self._out[b"m"].inc()
            self.store.publishToNode(node, envelope)

    def group(self, group, msgId, payload):
        """
        Send a stored group message to the other nodes with members online.
        """
        if self.multiNode:
            self._out[b"g"].inc()
            self.store.publishToGroup(group, _SEP.join(
                [b"g", self._encodedNode, group.encode("utf-8"), msgId.encode(), payload]))

    def groupEvent(self, group, payload, skip=None):
        """
        Send a C{group} event to the other nodes with members online (but
        not to C{skip}, the user it is about, told by L{membership}).
        """
        if self.multiNode:
            if skip is None:
                envelope = groupEventEnvelope(self.node, group, payload)
            else:
                envelope = _SEP.join([b"f", self._encodedNode, group.encode("utf-8"), skip.encode("utf-8"), payload])
            self._out[envelope[:1]].inc()
            self.store.publishToGroup(group, envelope)

    def userEvent(self, nodes, users, about, payload, kind=b"r"):
        """
        Send an event for C{users} (about user C{about}, or C{None}) to the
        other C{nodes} where they have connections.
        """
        envelope = None
        for node in set(nodes):
            if node == self.node:
                continue
            self._out[kind].inc()
            if envelope is None:
                envelope = _SEP.join([
                    kind, self._encodedNode, (about or "").encode("utf-8"),
                    _LIST.join(user.encode("utf-8") for user in users), payload,
                ])
            self.store.publishToNode(node, envelope)

    def typing(self, nodes, users, about, payload):
        """
        Send a C{typing} event of C{about} for C{users} to the other
        C{nodes} where they have connections.
        """
        self.userEvent(nodes, users, about, payload, b"t")

    def groupSignal(self, group, about, payload):
        """
        Send a C{typing} event of C{about} in C{group} to the other nodes
        with members online.
        """
        if self.multiNode:
            self._out[b"s"].inc()
            self.store.publishToGroup(group, _SEP.join(
                [b"s", self._encodedNode, group.encode("utf-8"), about.encode("utf-8"), payload]))

    def settingChanged(self, user):
        """
        Tell the other nodes that C{user} changed a setting.
        """
        if self.multiNode:
            self._out[b"c"].inc()
            self.store.broadcast(_SEP.join([b"c", self._encodedNode, user.encode("utf-8")]))

    def membership(self, user, group, joined, payload=None):
        """
        Tell the other nodes that C{user} joined or left C{group}, so that
        its connections there follow the group (and get C{payload}, the
        event of its being added or removed, if given).
        """
        if self.multiNode:
            parts = [user.encode("utf-8"), group.encode("utf-8")]
            if payload is None:
                kind = b"j" if joined else b"l"
            else:
                kind = b"u"
                parts += [b"1" if joined else b"0", payload]
            self._out[kind].inc()
            self.store.broadcast(_SEP.join([kind, self._encodedNode] + parts))

    def deleted(self, group, payload):
        """
        Tell the other nodes with members of C{group} that it was deleted.
        """
        if self.multiNode:
            self._out[b"x"].inc()
            self.store.publishToGroup(group, deletedEnvelope(self.node, group, payload))

    def presence(self, user, groups, payload):
        """
        Send a C{presence} event of C{user} to the other nodes, for their
        members of C{groups} (the user's groups small enough for presence).
        """
        if self.multiNode and groups:
            self._out[b"p"].inc()
            self.store.broadcast(_SEP.join([
                b"p", self._encodedNode, user.encode("utf-8"),
                _LIST.join(g.encode("utf-8") for g in groups), payload,
            ]))

    def kick(self, user, reason):
        """
        Tell the other nodes to close every connection of C{user} there,
        with a C{bye} giving C{reason} (a password change, a deletion, a
        server ban).
        """
        if self.multiNode:
            self._out[b"k"].inc()
            self.store.broadcast(kickEnvelope(self.node, user, reason))

    def blockChanged(self, user, peer, blocked):
        """
        Tell the other nodes that C{user} blocked (or unblocked) C{peer},
        for its connections there.
        """
        if self.multiNode:
            self._out[b"b"].inc()
            self.store.broadcast(_SEP.join([
                b"b", self._encodedNode, user.encode("utf-8"), peer.encode("utf-8"), b"1" if blocked else b"0"]))

    # Receiving.

    def received(self, envelope):
        """
        An envelope arrived on one of this node's channels.
        """
        parts = envelope.split(_SEP, 2)
        if len(parts) < 2:
            self.log.warn("Malformed relay envelope {envelope!r}", envelope=envelope[:80])
            return
        kind, origin = parts[0], parts[1]
        rest = parts[2] if len(parts) > 2 else b""
        if origin == self._encodedNode:
            return
        handler = self._handlers.get(kind)
        if handler is None:
            self.log.warn("Unknown relay envelope {kind!r}", kind=kind)
            return
        self._in[kind].inc()
        try:
            handler(origin.decode("utf-8"), rest)
        except Exception:
            self.log.failure("Relay envelope {kind!r} failed", kind=kind)

    def _direct(self, origin, rest):
        msgId, to, sender, payload = rest.split(_SEP, 3)
        self._delivery.relayedDirect(to.decode("utf-8"), sender.decode("utf-8"), msgId.decode(), payload)

    def _group(self, origin, rest):
        group, msgId, payload = rest.split(_SEP, 2)
        self._delivery.relayedGroup(group.decode("utf-8"), msgId.decode(), payload)

    def _groupEvent(self, origin, rest):
        group, payload = rest.split(_SEP, 1)
        self._delivery.relayedGroupEvent(group.decode("utf-8"), payload)

    def _userEvent(self, origin, rest):
        about, users, payload = rest.split(_SEP, 2)
        self._delivery.relayedUserEvent(
            [user.decode("utf-8") for user in users.split(_LIST)], about.decode("utf-8") or None, payload)

    def _typing(self, origin, rest):
        about, users, payload = rest.split(_SEP, 2)
        self._delivery.relayedTyping([user.decode("utf-8") for user in users.split(_LIST)], about.decode("utf-8"),
                                     payload)

    def _groupSignal(self, origin, rest):
        group, about, payload = rest.split(_SEP, 2)
        self._delivery.relayedGroupSignal(group.decode("utf-8"), about.decode("utf-8"), payload)

    def _settingChanged(self, origin, rest):
        if self.settingsListener is not None:
            self.settingsListener.settingChanged(rest.decode("utf-8"))

    def _presence(self, origin, rest):
        user, groups, payload = rest.split(_SEP, 2)
        self._presenceOf.relayedPresence(
            user.decode("utf-8"), [g.decode("utf-8") for g in groups.split(_LIST)], payload)

    def _joined(self, origin, rest):
        user, group = (part.decode("utf-8") for part in rest.split(_SEP, 1))
        self._presenceOf.relayedMembership(user, group, True)

    def _left(self, origin, rest):
        user, group = (part.decode("utf-8") for part in rest.split(_SEP, 1))
        self._presenceOf.relayedMembership(user, group, False)

    def _groupEventAbout(self, origin, rest):
        group, skip, payload = rest.split(_SEP, 2)
        self._delivery.relayedGroupEvent(group.decode("utf-8"), payload, skip.decode("utf-8"))

    def _membershipEvent(self, origin, rest):
        user, group, joined, payload = rest.split(_SEP, 3)
        self._presenceOf.relayedMembership(user.decode("utf-8"), group.decode("utf-8"), joined == b"1", payload)

    def _deleted(self, origin, rest):
        group, payload = rest.split(_SEP, 1)
        self._presenceOf.relayedDeletion(group.decode("utf-8"), payload)

    def _kicked(self, origin, rest):
        user, reason = (part.decode("utf-8") for part in rest.split(_SEP, 1))
        for session in list(self.registry.sessions(user)):
            session.bye(reason)

    def _blockChanged(self, origin, rest):
        user, peer, blocked = rest.split(_SEP, 2)
        user = user.decode("utf-8")
        self._delivery.blocks.changed(user, peer.decode("utf-8"), blocked == b"1", here=user in self.registry)

    def _hello(self, origin, rest):
        if origin not in self.nodes:
            self.nodes.add(origin)
            self.log.info("Node {node} joined", node=origin)
