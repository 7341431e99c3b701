# -*- test-case-name: tests.handlers.test_groups -*-
"""
Groups and their members.
"""

from zope.interface import implementer

from chatroom.store import keys
from chatroom.store.interfaces import IGroupStore
from chatroom.store.scripts import Script

_create = Script("group_create")
_join = Script("group_join")
_leave = Script("group_leave")
_members = Script("group_members")


@implementer(IGroupStore)
class GroupStore:
    """
    Groups: the set of all groups, each group's members (with the position
    they joined at) and each user's groups.
    """

    def __init__(self, link):
        self.link = link

    def create(self, group, user):
        """
        Create C{group} with C{user} as its first member.
        """
        return self.link.run(
            _create,
            [keys.GROUPS, keys.groupMembers(group), keys.userGroups(user), keys.readPositions(user)],
            [group, user],
        )

    async def join(self, group, user):
        """
        Make C{user} a member of C{group}; C{False} if it already was.
        """
        joined = await self.link.run(
            _join,
            [keys.GROUPS, keys.groupMembers(group), keys.userGroups(user),
             keys.readPositions(user), keys.groupStream(group)],
            [group, user],
        )
        return bool(int(joined))

    def leave(self, group, user):
        """
        Remove C{user} from C{group}.
        """
        return self.link.run(
            _leave,
            [keys.GROUPS, keys.groupMembers(group), keys.userGroups(user), keys.readPositions(user)],
            [group, user],
        )

    async def groupsOf(self, user):
        """
        The names of C{user}'s groups, sorted.
        """
        return sorted(await self.link.execute("SMEMBERS", keys.userGroups(user)))

    async def members(self, group):
        """
        C{[(user, online), ...]} for C{group}, sorted by name.
        """
        flat = await self.link.run(_members, [keys.GROUPS, keys.groupMembers(group), keys.ONLINE], [group])
        return sorted((flat[i], bool(int(flat[i + 1]))) for i in range(0, len(flat), 2))

    async def size(self, group):
        """
        The number of members of C{group}.
        """
        return int(await self.link.execute("HLEN", keys.groupMembers(group)))
