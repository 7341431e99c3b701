# -*- test-case-name: tests.test_presence -*-
"""
Who is online: logins and logouts counted in the store, C{presence} events
to the users who share a group, group membership followed by this node's
connections, and the re-count after a storage outage.
"""

from collections import Counter

from twisted.internet import defer
from twisted.logger import Logger

from chatroom import errors
from chatroom.events import groupEvent, presenceEvent
from chatroom.protocol import encode

#: Presence events skip groups with more members than this.
DEFAULT_PRESENCE_MAX_GROUP = 500


class Presence:
    """
    Counts this node's logged-in connections in the store (cluster-wide),
    keeps the L{PresenceRegistry} of them, and tells neighbours when a
    user comes and goes.

    @ivar maxGroup: presence events skip groups with more members.
    """

    log = Logger()

    def __init__(self, store, registry, relay, delivery, maxGroup=DEFAULT_PRESENCE_MAX_GROUP):
        """
        @param store: the L{IPresenceStore}.
        """
        self.store = store
        self.registry = registry
        self.relay = relay
        self.delivery = delivery
        self.maxGroup = maxGroup
        #: The liveness time-to-live renewed by a re-count (see L{resync}).
        self.liveness = 0
        #: C{blocksOf(user)}: a Deferred of the users C{user} blocked,
        #: loaded at its first login here (or C{None}: no blocks).
        self.blocksOf = None
        # Logins whose count in the store is under way, by user, and
        # count-outs waiting for the re-count that follows an outage.
        self._counting = Counter()
        self._resyncWaiters = []
        self._stopping = False

    # Logging in and out.

    async def loggedIn(self, session, user):
        """
        Make C{session} a connection of C{user}: count it online and tell
        the user's neighbours if it is the first.

        @return: the number of users online.
        """
        self._counting[user] += 1
        try:
            first, online, groups = await self.store.connect(user)
        finally:
            self._counting[user] -= 1
            if not self._counting[user]:
                del self._counting[user]
        if not session.connected:
            # Gone while we were counting it: count it out again.
            await self.store.disconnect(user)
            return online
        if self.blocksOf is not None and user not in self.registry:
            # Before it can be told of anyone: whom not to tell it about.
            try:
                blocked = await self.blocksOf(user)
            except errors.ChatError:
                # The login goes on (it is counted in already); only
                # presence events from blocked users may get through.
                self.log.warn("Could not read the blocks of {user}", user=user)
                blocked = ()
            self.delivery.blocks.load(user, blocked)
        session.user = user
        # From the moment it can get live messages until its missed ones
        # are pushed, the connection's live messages are remembered.
        self.delivery.catchUp(session)
        self.registry.add(session, groups)
        # Before the login completes, so no group message published from now
        # on can pass this node by.
        await self.relay.watchGroups(groups)
        if first:
            self._announce(user, encode(presenceEvent(user, True)))
        return online

    def loggedOut(self, session):
        """
        C{session} is no longer a connection of its user.
        """
        user = session.user
        if user is None:
            return
        registry, limit = self.registry, self.maxGroup
        audience = registry.neighbours(user, limit)
        groups = registry.smallGroups(user, limit)
        allGroups = list(registry.groupsOf(user))
        if registry.remove(session):
            self.relay.unwatchGroups(allGroups)
            self.delivery.blocks.forget(user)
        self.delivery.forget(session)
        session.user = None
        _background(self._countOut(user, audience, groups), "counting out %s" % (user,))

    async def _countOut(self, user, audience, groups):
        try:
            last = await self.store.disconnect(user)
        except errors.Unavailable:
            last = None
        while last is None:
            if self._stopping:
                return
            # The store is away, and this count-out may or may not have
            # happened.  The re-count that follows the reconnection (resync)
            # counts this connection out; running it again would count it
            # out twice.  Whether the user is gone can be asked after it.
            await self._nextResync()
            try:
                last = not await self.store.isOnline(user)
            except errors.Unavailable:
                pass
        if last:
            payload = encode(presenceEvent(user, False))
            self.delivery.aboutUser(user, audience, payload)
            self.relay.presence(user, groups, payload)

    def locate(self, *users):
        """
        The nodes where each of C{users} has connections (a Deferred of a
        list of lists).  While this node knows of no other, its registry
        is the whole truth and the store is not asked.
        """
        if not self.relay.multiNode:
            registry, node = self.registry, self.store.node
            return defer.succeed([[node] if user in registry else [] for user in users])
        return defer.ensureDeferred(self.store.locate(users))

    def _announce(self, user, payload):
        registry, limit = self.registry, self.maxGroup
        self.delivery.aboutUser(user, registry.neighbours(user, limit), payload)
        self.relay.presence(user, registry.smallGroups(user, limit), payload)

    def announceOffline(self, user, groups):
        """
        C{user}, connected to a node that died, is offline: tell its
        neighbours in C{groups} on every node.
        """
        payload = encode(presenceEvent(user, False))
        self.relayedPresence(user, groups, payload)
        self.relay.presence(user, groups, payload)

    def relayedPresence(self, user, groups, payload):
        """
        A C{presence} event of C{user}, for this node's members of C{groups}.
        """
        members = self.registry.members
        audience = set()
        for group in groups:
            audience.update(members(group))
        audience.discard(user)
        self.delivery.aboutUser(user, audience, payload)

    # Group membership.

    async def joined(self, session, group, created=False):
        """
        C{session}'s user joined (or created) C{group}: follow the group on
        every node where the user is connected, and tell the members.
        """
        user = session.user
        self.registry.joined(user, group, size=1 if created else None)
        await self.relay.watchGroups([group])
        self.relay.membership(user, group, True)
        if not created:
            self.delivery.groupEvent(group, encode(groupEvent(group, user, True)), exclude=session)

    def left(self, session, group):
        """
        C{session}'s user left C{group}: tell the members (the user's other
        connections included) and stop following the group.
        """
        user = session.user
        self.delivery.groupEvent(group, encode(groupEvent(group, user, False)), exclude=session)
        self.registry.left(user, group)
        self.relay.membership(user, group, False)
        self.relay.unwatchGroups([group])

    def relayedMembership(self, user, group, joined, payload=None):
        """
        C{user} joined or left C{group} on another node (or was added or
        removed there, with the event C{payload} for it): its connections
        here follow.
        """
        if user not in self.registry:
            return
        if payload is not None:
            self.delivery.toUsers((user,), payload)
        if joined:
            self.registry.joined(user, group)
            self.relay.watchGroups([group])
        else:
            self.registry.left(user, group)
            self.relay.unwatchGroups([group])

    async def added(self, group, user, payload, exclude=None):
        """
        C{user} was added to C{group} by someone else: its connections on
        every node follow the group, and the members and the user are told
        (C{payload}).
        """
        self.registry.joined(user, group)
        await self.relay.watchGroups([group])
        self._tell(group, user, payload, exclude)
        self.relay.membership(user, group, True, payload)

    def removed(self, group, user, payload, exclude=None):
        """
        C{user} was removed from C{group} (kicked, banned): the members and
        the user are told (C{payload}), and its connections on every node
        get nothing more of the group.
        """
        self._tell(group, user, payload, exclude)
        self.registry.left(user, group)
        self.relay.unwatchGroups([group])
        self.relay.membership(user, group, False, payload)

    def _tell(self, group, user, payload, exclude):
        # The user hears it on the other nodes with its membership change.
        audience = set(self.registry.members(group))
        audience.add(user)
        self.delivery.toUsers(audience, payload, exclude)
        self.relay.groupEvent(group, payload, skip=user)

    def announce(self, group, payload, exclude=None):
        """
        A C{group} event (encoded) for the group's members on every node.
        """
        self.delivery.groupEvent(group, payload, exclude)

    def deleted(self, group, payload, exclude=None):
        """
        C{group} was deleted: tell its members (C{payload}) and forget it,
        on every node.
        """
        self.relayedDeletion(group, payload, exclude)
        self.relay.deleted(group, payload)

    def relayedDeletion(self, group, payload, exclude=None):
        """
        C{group} was deleted (here or on another node): its members here
        are told and get nothing more of it.
        """
        self.delivery.toUsers(list(self.registry.members(group)), payload, exclude)
        self.registry.dropGroup(group)
        self.relay.unwatchGroups([group])

    # This node's record in the store.

    async def reset(self):
        """
        Forget what the store holds of this node's connections from an
        earlier run (at start, before any login).
        """
        gone = await self.store.resetNode()
        if gone:
            self.log.info("Cleared {count} users left online by an earlier run of node {node}",
                          count=len(gone), node=self.store.node)

    async def goodbye(self):
        """
        Count this node's users out (it is stopping) and tell their
        neighbours now, not when the other nodes notice its death.
        """
        self._stopping = True
        for user in await self.store.resetNode():
            self.relay.presence(user, self.registry.smallGroups(user, self.maxGroup),
                                encode(presenceEvent(user, False)))

    def _nextResync(self):
        d = defer.Deferred()
        self._resyncWaiters.append(d)
        return d

    async def resync(self):
        """
        Make the store's record of this node's logged-in connections match
        the connections this node has, whatever the store held: run when
        the store comes back after an outage.  Connections that closed
        meanwhile are counted out, the ones still open counted in.
        """
        counts = Counter(self._counting)
        for user in self.registry.users():
            counts[user] += len(self.registry.sessions(user))
        gone, back = await self.store.resync(+counts, self.liveness)
        self.log.info(
            "Re-counted {count} users of node {node} after reconnecting to storage "
            "({gone} gone, {back} restored)", count=len(counts), node=self.store.node,
            gone=len(gone), back=len(back))
        waiters, self._resyncWaiters = self._resyncWaiters, []
        for d in waiters:
            d.callback(None)


_log = Logger()


def _background(coroutine, what):
    """
    Run C{coroutine} without waiting for it; a failure is logged.
    """
    d = defer.ensureDeferred(coroutine)
    d.addErrback(lambda f: _log.failure("Failed {what}", f, what=what))
    return d
