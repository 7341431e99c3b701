# -*- test-case-name: tests.handlers.test_groups -*-
"""
Groups and their members.

A group's hash and members (slot C{{g:NAME}}) are the truth; a user's index
of its groups (slot C{{u:NAME}}) is written before a join and cleaned after
a leave, so it may name a group the user is not in (after a crash between
the two steps), never miss one: readers check membership.

Who may do what (roles, bans, private groups) is checked in the script
that makes the change, in the group's slot: two admins kicking each other
at once, or an add racing a ban, leave a consistent group.  Whether the
caller is a server admin is decided by the handler and passed in.

The caps: the groups a user is in are counted by the size of that index,
checked and added to in one script of the user's slot (so the entry holds
the user's place under the cap while the join runs); the members of a group
are counted and added to in the join script, in the group's slot.  The
lobby has no cap on its members.
"""

import time

import attr
from zope.interface import implementer

from chatroom import errors
from chatroom.store import faults, keys
from chatroom.store.accounts import LOBBY
from chatroom.store.connection import allOf
from chatroom.store.interfaces import IGroupStore
from chatroom.store.names import redisClaims
from chatroom.store.scripts import Script

_create = Script("group_create", ["_group"])
_join = Script("group_join", ["_group"])
_leave = Script("group_leave", ["_group"])
_add = Script("group_add", ["_group"])
_moderate = Script("group_moderate", ["_group"])
_role = Script("group_role", ["_group"])
_set = Script("group_set", ["_group"])
_delete = Script("group_delete", ["_group"])
_info = Script("group_info", ["_group"])
_members = Script("group_members", ["_group"])
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


@attr.s(frozen=True, slots=True)
class Removal:
    """
    What removing a member (leave, kick, ban) did to its group.

    @ivar removed: whether the user was a member (and is no longer).
    @ivar heir: the new owner if ownership passed, else C{None}.
    @ivar deleted: whether the group was left empty, and deleted.
    @ivar changed: whether anything changed (a ban of a banned user: not).
    """

    removed = attr.ib(default=False)
    heir = attr.ib(default=None)
    deleted = attr.ib(default=False)
    changed = attr.ib(default=True)

    @classmethod
    def fromReply(cls, kind, heir, removed=True, changed=True):
        """
        Read a script's C{'left'|'heir'|'deleted'} and new owner.
        """
        return cls(bool(removed), heir or None, kind == "deleted", bool(changed))


@attr.s(frozen=True, slots=True)
class GroupInfo:
    """
    A group as C{group.info} shows it; C{role} is the caller's (C{None}
    for a non-member).
    """

    title = attr.ib()
    visibility = attr.ib()
    history = attr.ib()
    owner = attr.ib()
    members = attr.ib()
    role = attr.ib()


def _flag(admin):
    return 1 if admin else 0


def seniorityCursor(cursor):
    """
    Check a C{group.members} cursor (a seniority, as the previous page
    gave it): C{""} for none.
    """
    if cursor is None:
        return ""
    if not cursor.isdigit() or len(cursor) > 15:
        raise errors.BadRequest("field 'cursor' must be a cursor given by the server")
    return cursor


@implementer(IGroupStore)
class GroupStore:
    """
    Groups: each group's hash, members (with the position they joined at),
    roles, bans and stream; each user's index of its groups; the directory
    of public groups.
    """

    faults = faults.NONE

    def __init__(self, link):
        self.link = link
        self.names = redisClaims(link, keys.groupName, self._exists)

    async def _exists(self, group):
        return bool(int(await self.link.execute("EXISTS", keys.group(group))))

    def _run(self, script, group, args):
        return self.link.run(script, keys.groupKeys(group), args)

    async def create(self, group, user, maxGroups=0, visibility="public", history="shared", title=""):
        """
        Create C{group} with C{user} as its first member and owner, unless
        C{user} is in C{maxGroups} groups already (0: no limit); L{GroupExists},
        or L{NameTaken} when another group's name is the same name (its keys
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
        if visibility == "public":
            # The directory is an index too: written before the group.
            await self.link.execute("ZADD", keys.DIRECTORY, 0, group)
        outcome = await self._run(_create, group, [user, int(time.time() * 1000), visibility, history, title])
        if outcome == "created":
            return
        if outcome == "other":
            await self.link.execute("SREM", keys.userGroups(user), group)
        raise errors.GroupExists()

    async def join(self, group, user, maxGroups=0, maxMembers=0, admin=False):
        """
        Make C{user} a member of C{group}; C{False} if it already was.
        Refused, with nothing changed, if C{user} is in C{maxGroups} groups
        or C{group} has C{maxMembers} members (0: no limit; the lobby has no
        member cap), is private or bans C{user} (unless C{admin}).
        """
        added = await self._index(user, group, maxGroups)
        self.faults("join.indexed")
        return await self._enter(_join, group, user, [user, memberCap(group, maxMembers), group, _flag(admin)],
                                 added, maxMembers)

    async def add(self, group, actor, user, maxGroups=0, maxMembers=0, admin=False):
        """
        C{actor} adds C{user} to C{group}: C{False} if it was a member.
        The caps apply as for L{join}.
        """
        added = await self._index(user, group, maxGroups)
        self.faults("add.indexed")
        return await self._enter(_add, group, user, [actor, user, memberCap(group, maxMembers), group, _flag(admin)],
                                 added, maxMembers)

    async def _enter(self, script, group, user, args, indexed, maxMembers):
        # The membership, after the index entry; a refusal gives back the
        # entry if this request made it (one already there may be a real
        # membership).
        try:
            joined = int(await self._run(script, group, args))
        except errors.ChatError:
            if indexed:
                await self.link.execute("SREM", keys.userGroups(user), group)
            raise
        if joined < 0:
            if indexed:
                await self.link.execute("SREM", keys.userGroups(user), group)
            raise groupFull(maxMembers)
        return bool(joined)

    async def _index(self, user, group, maxGroups):
        # Add group to the user's index, under the cap (before the join:
        # the index may name a group the user is not in, never miss one).
        # Whether this added it.
        added = int(await self.link.run(_indexAdd, [keys.userGroups(user)], [group, maxGroups]))
        if added == -1:
            raise tooManyGroups(maxGroups)
        return added == 1

    async def leave(self, group, user):
        """
        Remove C{user} from C{group}: a L{Removal}.
        """
        kind, heir = await self._run(_leave, group, [user, group])
        self.faults("leave.left")
        await self.link.execute("SREM", keys.userGroups(user), group)
        return await self._removed(group, Removal.fromReply(kind, heir))

    async def _removed(self, group, removal):
        if removal.deleted:
            await self.link.execute("ZREM", keys.DIRECTORY, group)
        return removal

    async def kick(self, group, actor, user, admin=False):
        """
        C{actor} removes C{user} from C{group}: a L{Removal}.
        """
        return await self._moderate(group, actor, user, "kick", admin)

    async def ban(self, group, actor, user, admin=False):
        """
        C{actor} bans C{user} from C{group} (removing it if a member): a
        L{Removal}.
        """
        return await self._moderate(group, actor, user, "ban", admin)

    async def unban(self, group, actor, user, admin=False):
        """
        C{actor} lifts C{user}'s ban: whether it was banned.
        """
        return (await self._moderate(group, actor, user, "unban", admin)).changed

    async def _moderate(self, group, actor, user, action, admin):
        changed, removed, kind, heir = await self._run(_moderate, group, [actor, user, action, group, _flag(admin)])
        self.faults(action + ".removed")
        removal = Removal.fromReply(kind, heir, int(removed), int(changed))
        if removal.removed:
            await self.link.execute("SREM", keys.userGroups(user), group)
        return await self._removed(group, removal)

    async def setRole(self, group, actor, user, role, admin=False):
        """
        C{actor} gives C{user} C{role} (C{"owner"} hands ownership over):
        C{(changed, previous owner or None)}.
        """
        changed, previous = await self._run(_role, group, [actor, user, role, group, _flag(admin)])
        return bool(int(changed)), previous or None

    async def configure(self, group, actor, settings, admin=False):
        """
        C{actor} changes C{settings} (a dict of C{title}, C{visibility},
        C{history}): a dict of those that changed.
        """
        if settings.get("visibility") == "public":
            await self.link.execute("ZADD", keys.DIRECTORY, 0, group)
        flat = [value for pair in sorted(settings.items()) for value in pair]
        reply = await self._run(_set, group, [actor, group, _flag(admin)] + flat)
        changed = dict(zip(reply[::2], reply[1::2]))
        if changed.get("visibility") == "private":
            await self.link.execute("ZREM", keys.DIRECTORY, group)
        return changed

    async def delete(self, group, actor, admin=False):
        """
        C{actor} deletes C{group}: the members it had.
        """
        members = await self._run(_delete, group, [actor, group, _flag(admin)])
        self.faults("delete.deleted")
        # Derived: each member's index entry (readers drop a stale one) and
        # the directory's.
        await allOf([self.link.execute("SREM", keys.userGroups(member), group) for member in members]
                    + [self.link.execute("ZREM", keys.DIRECTORY, group)])
        return list(members)

    async def info(self, group, user, admin=False):
        """
        C{group} as C{user} may see it: a L{GroupInfo}.
        """
        title, visibility, history, owner, size, role = await self._run(_info, group, [user, group, _flag(admin)])
        return GroupInfo(title, visibility, history, owner or None, int(size), role or None)

    async def memberships(self, user, groups):
        """
        C{{group: member count}} for those of C{groups} C{user} is a member
        of; the others (stale entries of its index) are removed from it.
        """
        return {group: detail[0] for group, detail in (await self._details(user, groups)).items()}

    async def _details(self, user, groups):
        checks = [self.link.run(_check, [keys.group(g), keys.groupMembers(g), keys.groupRoles(g)], [user])
                  for g in groups]
        found, stale = {}, []
        for group, (member, size, role, title, visibility) in zip(groups, await allOf(checks)):
            if int(member):
                found[group] = (int(size), role, title, visibility)
            else:
                stale.append(group)
        if stale:
            await self.link.execute("SREM", keys.userGroups(user), *stale)
        return found

    async def groupsOf(self, user):
        """
        The names of C{user}'s groups, sorted.
        """
        return [group for group, _ in await self.detailsOf(user)]

    async def detailsOf(self, user):
        """
        C{user}'s groups, sorted: C{[(group, {"title", "role",
        "visibility"}), ...]}.
        """
        groups = await self.link.execute("SMEMBERS", keys.userGroups(user))
        details = await self._details(user, list(groups))
        return [(group, {"title": title, "role": role, "visibility": visibility})
                for group, (_, role, title, visibility) in sorted(details.items())]

    async def members(self, group, user, cursor=None, limit=100, admin=False):
        """
        A page of C{group}'s members, longest-standing first:
        C{([(user, online, role), ...], next cursor or None, total)}.
        """
        total, users, roles, last = await self._run(
            _members, group, [user, group, _flag(admin), seniorityCursor(cursor), limit])
        online = await self.link.execute("ZMSCORE", keys.ONLINE, *users) if users else []
        page = [(u, score is not None, role or "member") for u, score, role in zip(users, online, roles)]
        return page, last or None, int(total)

    async def directory(self, prefix="", cursor=None, limit=50):
        """
        A page of the public groups whose names start with C{prefix}, by
        name: C{([(group, title, members), ...], next cursor or None)}.
        Entries of the index whose group is gone or private are skipped.
        """
        start = "(" + cursor if cursor is not None else ("[" + prefix if prefix else "-")
        names = await self.link.execute("ZRANGEBYLEX", keys.DIRECTORY, start, "+", "LIMIT", 0, limit + 1)
        names = [n for n in names if n.startswith(prefix)]
        more = len(names) > limit
        names = names[:limit]
        cards = await allOf([self.link.execute("HMGET", keys.group(n), "created", "title", "visibility")
                             for n in names] + [self.link.execute("HLEN", keys.groupMembers(n)) for n in names])
        page = []
        for name, (created, title, visibility), size in zip(names, cards[:len(names)], cards[len(names):]):
            if created is not None and visibility != "private":
                page.append((name, title or "", int(size)))
        return page, (names[-1] if more else None)

    async def size(self, group):
        """
        The number of members of C{group}.
        """
        return int(await self.link.execute("HLEN", keys.groupMembers(group)))
