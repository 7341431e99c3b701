# -*- test-case-name: tests.handlers.test_groups -*-
"""
Groups and their members.

A group's hash and members (slot C{{g:NAME}}) are the truth; a user's index
of its groups (slot C{{u:NAME}}) is written before a join and cleaned after
a leave, so it may name a group the user is not in (after a crash between
the two steps), never miss one: readers check membership.

The caps: the groups a user is in are counted by the size of that index,
checked and added to in one script of the user's slot (so the entry holds
the user's place under the cap while the join runs); the members of a group
are counted and added to in the join script, in the group's slot.  The
lobby has no cap on its members.
"""

import time

from zope.interface import implementer

from chatroom import errors
from chatroom.store import faults, keys
from chatroom.store.accounts import LOBBY
from chatroom.store.connection import allOf
from chatroom.store.interfaces import IGroupStore
from chatroom.store.names import redisClaims
from chatroom.store.scripts import Script

_create = Script("group_create")
_join = Script("group_join")
_leave = Script("group_leave")
_check = Script("group_check")
_indexAdd = Script("group_index_add")


def tooManyGroups(most):
    """
    The error for a user already in C{most} groups, the most allowed.
    """
    return errors.BadRequest("field 'group': you are in %d groups, the most allowed; leave one first" % (most,))


def groupFull(most):
    """
    The error for a group with C{most} members, the most allowed.
    """
    return errors.BadRequest("field 'group': that group is full (%d members, the most allowed)" % (most,))


def memberCap(group, maxMembers):
    """
    The most members C{group} may have (0: no limit): the lobby, which
    every user is in, has no cap.
    """
    return 0 if group == LOBBY else maxMembers


@implementer(IGroupStore)
class GroupStore:
    """
    Groups: each group's hash, members (with the position they joined at)
    and stream; each user's index of its groups.
    """

    faults = faults.NONE

    def __init__(self, link):
        self.link = link
        self.names = redisClaims(link, keys.groupName, self._exists)

    async def _exists(self, group):
        return bool(int(await self.link.execute("EXISTS", keys.group(group))))

    async def create(self, group, user, maxGroups=0):
        """
        Create C{group} with C{user} as its first member, unless C{user} is
        in C{maxGroups} groups already (0: no limit); L{GroupExists}, or
        L{NameTaken} when another group's name is the same name (its keys
        are claimed first, each in its own slot, L{chatroom.store.names}).
        """
        if await self._exists(group):
            raise errors.GroupExists()
        await self.names.claim(group)
        try:
            await self._index(user, group, maxGroups)
        except errors.BadRequest:
            await self.names.release(group)
            raise
        self.faults("create.indexed")
        outcome = await self.link.run(
            _create, [keys.group(group), keys.groupMembers(group)], [user, int(time.time() * 1000)])
        if outcome == "created":
            return
        if outcome == "other":
            await self.link.execute("SREM", keys.userGroups(user), group)
        raise errors.GroupExists()

    async def join(self, group, user, maxGroups=0, maxMembers=0):
        """
        Make C{user} a member of C{group}; C{False} if it already was.
        Refused, with nothing changed, if C{user} is in C{maxGroups} groups
        or C{group} has C{maxMembers} members (0: no limit; the lobby has no
        member cap).
        """
        await self._index(user, group, maxGroups)
        self.faults("join.indexed")
        maxMembers = memberCap(group, maxMembers)
        try:
            joined = await self.link.run(
                _join, [keys.group(group), keys.groupMembers(group), keys.groupStream(group)], [user, maxMembers])
        except errors.NoSuchGroup:
            await self.link.execute("SREM", keys.userGroups(user), group)
            raise
        joined = int(joined)
        if joined < 0:
            await self.link.execute("SREM", keys.userGroups(user), group)
            raise groupFull(maxMembers)
        return bool(joined)

    async def _index(self, user, group, maxGroups):
        # Add group to the user's index, under the cap (before the join:
        # the index may name a group the user is not in, never miss one).
        if await self.link.run(_indexAdd, [keys.userGroups(user)], [group, maxGroups]) == -1:
            raise tooManyGroups(maxGroups)

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
