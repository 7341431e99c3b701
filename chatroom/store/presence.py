# -*- test-case-name: tests.test_presence -*-
"""
Who is online, cluster-wide: which users have connections on which nodes.
"""

from twisted.internet import defer
from zope.interface import implementer

from chatroom.store import faults, keys
from chatroom.store.connection import allOf
from chatroom.store.interfaces import IPresenceStore
from chatroom.store.scripts import Script

_connect = Script("connect")
_disconnect = Script("disconnect")
_setConnections = Script("set_connections")


@implementer(IPresenceStore)
class PresenceStore:
    """
    The online users of every node.  A user's locations (node ->
    connections, in the user's slot) are the truth; a node's index of its
    users is written before them and the online set after them, so a crash
    in between leaves an index entry that a re-count or a reaping clears.
    """

    faults = faults.NONE

    def __init__(self, link, node, accounts, groups):
        """
        @param accounts: the L{AccountStore} (a new account's lobby
            membership is finished at its first login).
        @param groups: the L{GroupStore} (the user's groups and their sizes).
        """
        self.link = link
        self.node = node
        self.accounts = accounts
        self.groups = groups

    async def connect(self, user):
        """
        Count a new logged-in connection of C{user} on this node.

        @return: C{(first, online, groups)}: whether it is the user's first
            connection anywhere, the number of users online, and a dict of
            the user's groups to their member counts.
        """
        link = self.link
        await link.execute("SADD", keys.nodeUsers(self.node), user)
        self.faults("connect.indexed")
        first, groups, new = await link.run(
            _connect, [keys.locations(user), keys.userGroups(user), keys.user(user)], [self.node])
        self.faults("connect.located")
        if int(new):
            await self.accounts.settle(user)
        _, online, sizes = await allOf([
            link.execute("ZADD", keys.ONLINE, "NX", 0, user),
            link.execute("ZCARD", keys.ONLINE),
            defer.ensureDeferred(self.groups.memberships(user, list(groups))),
        ])
        return bool(int(first)), int(online), sizes

    async def disconnect(self, user):
        """
        Forget a logged-in connection of C{user} on this node.

        @return: whether it was the user's last connection anywhere.
        """
        last, left = await self.link.run(_disconnect, [keys.locations(user)], [self.node, 1])
        self.faults("disconnect.unlocated")
        # {online} before the node's index: a node stopped in between still
        # names the user in its index, so its reset counts the user out.
        if int(last):
            await self.link.execute("ZREM", keys.ONLINE, user)
        self.faults("disconnect.offline")
        if not int(left):
            await self.link.execute("SREM", keys.nodeUsers(self.node), user)
        return bool(int(last))

    async def resetNode(self, node=None):
        """
        Forget every connection of C{node} (this one by default): it has
        restarted or died.

        @return: the users now offline everywhere (each reported by one
            caller only, however many reset the node at once).
        """
        node = node or self.node
        users = list(await self.link.execute("SMEMBERS", keys.nodeUsers(node)))
        gone = await self._countOut(node, users)
        await self.link.execute("DEL", keys.nodeUsers(node))
        return gone

    async def _countOut(self, node, users):
        lasts = await allOf([self.link.run(_disconnect, [keys.locations(u)], [node, 0]) for u in users])
        offline = [u for u, (last, _) in zip(users, lasts) if int(last)]
        removed = await allOf([self.link.execute("ZREM", keys.ONLINE, u) for u in offline])
        return [u for u, n in zip(offline, removed) if int(n)]

    async def page(self, cursor, limit):
        """
        One page of online users after C{cursor} (a user name, or C{None}).

        @return: C{(users, nextCursor, total)} with C{users} a list of
            C{(user, display name)}.
        """
        start = "-" if cursor is None else "(" + cursor
        names, total = await allOf([
            self.link.execute("ZRANGEBYLEX", keys.ONLINE, start, "+", "LIMIT", 0, limit + 1),
            self.link.execute("ZCARD", keys.ONLINE),
        ])
        more = len(names) > limit
        names = names[:limit]
        displayed = await allOf([self.link.execute("HGET", keys.user(u), "name") for u in names])
        users = [(u, d or u) for u, d in zip(names, displayed)]
        return users, users[-1][0] if more and users else None, int(total)

    async def count(self):
        """
        The number of users online on any node.
        """
        return int(await self.link.execute("ZCARD", keys.ONLINE))

    async def isOnline(self, user):
        """
        Whether C{user} has a connection on any node.
        """
        return bool(int(await self.link.execute("EXISTS", keys.locations(user))))

    async def locate(self, users):
        """
        The nodes where each of C{users} has connections: a list of lists.
        """
        return await allOf([self.link.execute("HKEYS", keys.locations(u)) for u in users])

    async def resync(self, counts, liveness=0):
        """
        Set this node's logged-in connections in Redis to C{counts} (a dict
        of user to number of connections), whatever Redis held before.

        @param liveness: in a cluster, the time-to-live in seconds of the
            node's liveness key, renewed first.
        @return: C{(gone, back)}: the users now offline everywhere, and the
            users that were missing from the online set.
        """
        link, node = self.link, self.node
        if liveness:
            await allOf([
                link.execute("SADD", keys.NODES, node),
                link.execute("SET", keys.nodeAlive(node), "1", "PX", int(liveness * 1000)),
            ])
        known = set(await link.execute("SMEMBERS", keys.nodeUsers(node)))
        stale = sorted(known - set(counts))
        gone = await self._countOut(node, stale)
        if stale:
            await link.execute("SREM", keys.nodeUsers(node), *stale)
        users = sorted(counts)
        if users:
            await link.execute("SADD", keys.nodeUsers(node), *users)
        await allOf([link.run(_setConnections, [keys.locations(u)], [node, counts[u]]) for u in users])
        added = await allOf([link.execute("ZADD", keys.ONLINE, "NX", 0, u) for u in users])
        back = [u for u, n in zip(users, added) if int(n)]
        return gone, back
