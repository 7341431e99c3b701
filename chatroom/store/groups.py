# -*- test-case-name: tests.handlers.test_groups -*-
"""
Groups and their members.

A group's hash and members (slot C{{g:NAME}}) are the truth; a user's index
of its groups (slot C{{u:NAME}}) is written before a join and cleaned after
a leave, so it may name a group the user is not in (after a crash between
the two steps), never miss one: readers check membership.
"""

import time

from zope.interface import implementer

from chatroom import errors
from chatroom.store import faults, keys
from chatroom.store.connection import allOf
from chatroom.store.interfaces import IGroupStore
from chatroom.store.scripts import Script

_create = Script("group_create")
_join = Script("group_join")
_leave = Script("group_leave")
_check = Script("group_check")


@implementer(IGroupStore)
class GroupStore:
    """
    Groups: each group's hash, members (with the position they joined at)
    and stream; each user's index of its groups.
    """

    faults = faults.NONE

    def __init__(self, link):
        self.link = link

    async def create(self, group, user):
        """
        Create C{group} with C{user} as its first member.
        """
        await self.link.execute("SADD", keys.userGroups(user), group)
        self.faults("create.indexed")
        outcome = await self.link.run(
            _create, [keys.group(group), keys.groupMembers(group)], [user, int(time.time() * 1000)])
        if outcome == "created":
            return
        if outcome == "other":
            await self.link.execute("SREM", keys.userGroups(user), group)
        raise errors.GroupExists()

    async def join(self, group, user):
        """
        Make C{user} a member of C{group}; C{False} if it already was.
        """
        await self.link.execute("SADD", keys.userGroups(user), group)
        self.faults("join.indexed")
        try:
            joined = await self.link.run(
                _join, [keys.group(group), keys.groupMembers(group), keys.groupStream(group)], [user])
        except errors.NoSuchGroup:
            await self.link.execute("SREM", keys.userGroups(user), group)
            raise
        return bool(int(joined))

    async def leave(self, group, user):
        """
        Remove C{user} from C{group}.
        """
        await self.link.run(_leave, [keys.group(group), keys.groupMembers(group), keys.groupRead(group)], [user])
        self.faults("leave.left")
        await self.link.execute("SREM", keys.userGroups(user), group)

    async def memberships(self, user, groups):
        """
        C{{group: member count}} for those of C{groups} C{user} is a member
        of; the others (stale entries of its index) are removed from it.
        """
        checks = [self.link.run(_check, [keys.group(g), keys.groupMembers(g)], [user]) for g in groups]
        sizes, stale = {}, []
        for group, (member, size) in zip(groups, await allOf(checks)):
            if int(member):
                sizes[group] = int(size)
            else:
                stale.append(group)
        if stale:
            await self.link.execute("SREM", keys.userGroups(user), *stale)
        return sizes

    async def groupsOf(self, user):
        """
        The names of C{user}'s groups, sorted.
        """
        groups = await self.link.execute("SMEMBERS", keys.userGroups(user))
        return sorted(await self.memberships(user, list(groups)))

    async def members(self, group):
        """
        C{[(user, online), ...]} for C{group}, sorted by name.
        """
        exists, members = await allOf([
            self.link.execute("EXISTS", keys.group(group)),
            self.link.execute("HKEYS", keys.groupMembers(group)),
        ])
        if not int(exists):
            raise errors.NoSuchGroup()
        if not members:
            return []
        scores = await self.link.execute("ZMSCORE", keys.ONLINE, *members)
        return sorted((user, score is not None) for user, score in zip(members, scores))

    async def size(self, group):
        """
        The number of members of C{group}.
        """
        return int(await self.link.execute("HLEN", keys.groupMembers(group)))
