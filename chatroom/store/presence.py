# -*- test-case-name: tests.test_presence -*-
"""
Who is online, cluster-wide: which users have connections on which nodes.
"""

from zope.interface import implementer

from chatroom.store import keys
from chatroom.store.interfaces import IPresenceStore
from chatroom.store.scripts import Script

_connect = Script("connect")
_disconnect = Script("disconnect")
_resetNode = Script("reset_node")
_usersPage = Script("users_page")
_nodeSync = Script("node_sync")


@implementer(IPresenceStore)
class PresenceStore:
    """
    The online users of every node, kept in Redis so that any node can list
    them and count them.
    """

    def __init__(self, link, node):
        self.link = link
        self.node = node

    async def connect(self, user):
        """
        Count a new logged-in connection of C{user} on this node.

        @return: C{(first, online, groups)}: whether it is the user's first
            connection anywhere, the number of users online, and a dict of
            the user's groups to their member counts.
        """
        first, online, sized = await self.link.run(
            _connect,
            [keys.locations(user), keys.nodeUsers(self.node), keys.ONLINE, keys.userGroups(user)],
            [user, self.node, keys.GROUP_MEMBERS],
        )
        groups = {sized[i]: int(sized[i + 1]) for i in range(0, len(sized), 2)}
        return bool(int(first)), int(online), groups

    async def disconnect(self, user):
        """
        Forget a logged-in connection of C{user} on this node.

        @return: whether it was the user's last connection anywhere.
        """
        last = await self.link.run(
            _disconnect, [keys.locations(user), keys.nodeUsers(self.node), keys.ONLINE], [user, self.node]
        )
        return bool(int(last))

    async def resetNode(self, node=None):
        """
        Forget every connection of C{node} (this one by default): it has
        restarted or died.

        @return: the users now offline everywhere.
        """
        node = node or self.node
        return await self.link.run(
            _resetNode, [keys.nodeUsers(node), keys.ONLINE], [node, keys.LOCATIONS]
        )

    async def page(self, cursor, limit):
        """
        One page of online users after C{cursor} (a user name, or C{None}).

        @return: C{(users, nextCursor, total)} with C{users} a list of
            C{(user, display name)}.
        """
        start = "-" if cursor is None else "(" + cursor
        total, flat, more = await self.link.run(_usersPage, [keys.ONLINE], [start, limit, keys.USER])
        users = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
        nextCursor = users[-1][0] if int(more) and users else None
        return users, nextCursor, int(total)

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

    async def resync(self, counts, liveness=0):
        """
        Set this node's logged-in connections in Redis to C{counts} (a dict
        of user to number of connections), whatever Redis held before.

        @param liveness: in a cluster, the time-to-live in seconds of the
            node's liveness key, renewed in the same step (0 outside one).
        @return: C{(gone, back)}: the users now offline everywhere, and the
            users that were missing from the online set.
        """
        args = [self.node, keys.LOCATIONS, int(liveness * 1000)]
        for user, count in sorted(counts.items()):
            args += [user, count]
        gone, back = await self.link.run(
            _nodeSync, [keys.nodeUsers(self.node), keys.ONLINE, keys.NODES, keys.nodeAlive(self.node)], args
        )
        return gone, back
