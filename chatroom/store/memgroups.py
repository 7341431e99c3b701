# -*- test-case-name: tests.handlers.test_group_rights -*-
"""
Groups in memory: the rules of the group scripts (C{chatroom/store/lua/
group_*.lua} and C{_group.lua}) written again in Python, for
L{chatroom.store.memory.MemoryStore}.  The rule tests run on both stores.
"""

from collections import defaultdict

from zope.interface import implementer

from chatroom import errors
from chatroom.messages import groupIdentity
from chatroom.store.accounts import LOBBY
from chatroom.store.groups import GroupInfo, Removal, groupFull, memberCap, seniorityCursor, tooManyGroups
from chatroom.store.interfaces import IGroupStore

#: A setting's value in a group that never set it.
DEFAULTS = {"visibility": "public", "history": "shared", "title": ""}

_RANKS = {"owner": 3, "admin": 2}


class GroupData:
    """
    What the group scripts keep besides membership (L{MemoryData} has the
    members and the streams): settings, roles, bans, seniority, history
    starts, by group.
    """

    def __init__(self):
        self.meta = {}
        self.roles = defaultdict(dict)
        self.bans = defaultdict(set)
        self.order = defaultdict(dict)
        self.visibleFrom = defaultdict(dict)

    def setting(self, group, name):
        """
        A setting of C{group}, or its default.
        """
        return self.meta.get(group, {}).get(name, DEFAULTS[name])

    def drop(self, group):
        """
        Forget C{group} (deleted).
        """
        self.meta.pop(group, None)
        for table in (self.roles, self.bans, self.order, self.visibleFrom):
            table.pop(group, None)


@implementer(IGroupStore)
class MemoryGroupStore:
    """
    Groups in memory.
    """

    def __init__(self, data, names=None):
        """
        @param names: the L{NameClaims} of group names (C{group.create}
            claims the new group's name keys first).
        """
        self.data = data
        self.g = data.groupData
        self.names = names

    # The rules of _group.lua.

    def _rank(self, group, user, admin=False):
        if admin:
            return 4
        if user not in self.data.members[group]:
            return 0
        return _RANKS.get(self.g.roles[group].get(user), 1)

    def _unseen(self, group, user, admin):
        data = self.data
        if group not in data.groups:
            raise errors.NoSuchGroup()
        if not admin and self.g.setting(group, "visibility") == "private" and user not in data.members[group]:
            raise errors.NotMember()

    def _actor(self, group, actor, admin, least, refusal):
        # The rank of actor, who must be able to see the group, be in it
        # (or a server admin) and hold at least rank least.
        self._unseen(group, actor, admin)
        rank = self._rank(group, actor, admin)
        if rank == 0:
            raise errors.NotMember()
        if rank < least:
            raise errors.Forbidden(refusal)
        return rank

    def addMember(self, group, user):
        """
        Make C{user} a member of C{group} (as addMember in _group.lua).
        """
        data, g = self.data, self.g
        position = data.lastOf(groupIdentity(group)) or "0-0"
        data.members[group][user] = position
        meta = g.meta.setdefault(group, {})
        meta["seq"] = meta.get("seq", 0) + 1
        g.order[group][user] = meta["seq"]
        if g.setting(group, "history") == "joined":
            g.visibleFrom[group][user] = position
        data.userGroups[user].add(group)
        data.read[user]["g:" + group] = position

    def _removeMember(self, group, user):
        data, g = self.data, self.g
        data.members[group].pop(user, None)
        data.userGroups[user].discard(group)
        data.read[user].pop("g:" + group, None)
        wasOwner = g.roles[group].pop(user, None) == "owner"
        g.visibleFrom[group].pop(user, None)
        order = g.order[group]
        order.pop(user, None)
        if group != LOBBY and not data.members[group]:
            self._drop(group)
            return Removal(True, None, True)
        if not wasOwner:
            return Removal(True)
        admins = [u for u in g.roles[group] if u in order]
        heir = min(admins or order, key=order.get)
        g.roles[group][heir] = "owner"
        g.meta[group]["owner"] = heir
        return Removal(True, heir)

    def _drop(self, group):
        data = self.data
        data.groups.discard(group)
        data.members.pop(group, None)
        stream = data.streams.get(groupIdentity(group))
        if stream is not None:
            stream.clear()
        for cidKey in [k for k in data.cids if k[1] == "g:" + group]:
            del data.cids[cidKey]
        for read in data.read.values():
            read.pop("g:" + group, None)
        self.g.drop(group)

    def _checkGroups(self, user, group, maxGroups):
        # As group_index_add.lua: a group the user's index holds already
        # takes no new place under the cap.
        groups = self.data.userGroups.get(user, ())
        if maxGroups and group not in groups and len(groups) >= maxGroups:
            raise tooManyGroups(maxGroups)

    # IGroupStore

    async def create(self, group, user, maxGroups=0, visibility="public", history="shared", title=""):
        data = self.data
        self._checkGroups(user, group, maxGroups)
        if group in data.groups:
            raise errors.GroupExists()
        await self.names.claim(group)
        data.groups.add(group)
        self.g.meta[group] = {"visibility": visibility, "history": history, "title": title, "owner": user}
        self.addMember(group, user)
        self.g.roles[group][user] = "owner"

    async def join(self, group, user, maxGroups=0, maxMembers=0, admin=False):
        data = self.data
        self._checkGroups(user, group, maxGroups)
        if group not in data.groups:
            raise errors.NoSuchGroup()
        if user in data.members[group]:
            return False
        if not admin:
            if user in self.g.bans[group]:
                raise errors.Forbidden("you are banned from that group")
            if self.g.setting(group, "visibility") == "private":
                raise errors.Forbidden("that group is private: a member must add you")
        return self._enter(group, user, maxMembers)

    def _enter(self, group, user, maxMembers):
        maxMembers = memberCap(group, maxMembers)
        if maxMembers and len(self.data.members[group]) >= maxMembers:
            raise groupFull(maxMembers)
        self.addMember(group, user)
        return True

    async def add(self, group, actor, user, maxGroups=0, maxMembers=0, admin=False):
        self._checkGroups(user, group, maxGroups)
        rank = self._actor(group, actor, admin, 1, None)
        if rank < 2 and self.g.setting(group, "visibility") == "private":
            raise errors.Forbidden("only the owner and admins may add members to a private group")
        if user in self.data.members[group]:
            return False
        if user in self.g.bans[group]:
            raise errors.Forbidden("that user is banned from the group")
        return self._enter(group, user, maxMembers)

    async def leave(self, group, user):
        data = self.data
        if group not in data.groups:
            raise errors.NoSuchGroup()
        if user not in data.members[group]:
            raise errors.NotMember()
        return self._removeMember(group, user)

    def _target(self, group, actor, user, admin):
        rank = self._actor(group, actor, admin, 2, "only the owner and admins may do that")
        if user == actor:
            raise errors.BadRequest("field 'user': not yourself (leave the group instead)")
        target = self._rank(group, user)
        if target >= rank:
            raise errors.Forbidden("admins may not do that to the owner or another admin")
        return target

    async def kick(self, group, actor, user, admin=False):
        if not self._target(group, actor, user, admin):
            raise errors.NotMember("that user is not a member of that group")
        return self._removeMember(group, user)

    async def ban(self, group, actor, user, admin=False):
        target = self._target(group, actor, user, admin)
        bans = self.g.bans[group]
        changed = user not in bans
        bans.add(user)
        if not target:
            return Removal(changed=changed)
        return self._removeMember(group, user)

    async def unban(self, group, actor, user, admin=False):
        self._target(group, actor, user, admin)
        bans = self.g.bans[group]
        if user not in bans:
            return False
        bans.discard(user)
        return True

    async def setRole(self, group, actor, user, role, admin=False):
        self._actor(group, actor, admin, 3, "only the owner may change roles")
        if user not in self.data.members[group]:
            raise errors.NotMember("that user is not a member of that group")
        roles, meta = self.g.roles[group], self.g.meta[group]
        current = roles.get(user, "member")
        if role == "owner":
            if group == LOBBY:
                raise errors.Forbidden("the lobby has no owner")
            if current == "owner":
                return False, None
            previous = meta.get("owner")
            if previous is not None and roles.get(previous) == "owner":
                roles[previous] = "admin"
            meta["owner"] = user
            roles[user] = "owner"
            return True, previous
        if current == "owner":
            raise errors.Forbidden("the owner stays owner until it hands ownership to another member")
        if current == role:
            return False, None
        if role == "admin":
            roles[user] = "admin"
        else:
            roles.pop(user, None)
        return True, None

    async def configure(self, group, actor, settings, admin=False):
        self._actor(group, actor, admin, 2, "only the owner and admins may change the group")
        if group == LOBBY and (settings.get("visibility", "public") != "public"
                               or settings.get("history", "shared") != "shared"):
            raise errors.Forbidden("the lobby stays public and shared")
        meta, changed = self.g.meta.setdefault(group, {}), {}
        for name, value in sorted(settings.items()):
            if self.g.setting(group, name) != value:
                meta[name] = changed[name] = value
        return changed

    async def delete(self, group, actor, admin=False):
        self._actor(group, actor, admin, 1, None)
        if group == LOBBY:
            raise errors.Forbidden("the lobby cannot be deleted")
        if self._rank(group, actor, admin) < 3:
            raise errors.Forbidden("only the owner may delete the group")
        members = list(self.data.members[group])
        for member in members:
            self.data.userGroups[member].discard(group)
        self._drop(group)
        return members

    async def info(self, group, user, admin=False):
        self._unseen(group, user, admin)
        g, members = self.g, self.data.members[group]
        role = g.roles[group].get(user, "member") if user in members else None
        return GroupInfo(g.setting(group, "title"), g.setting(group, "visibility"), g.setting(group, "history"),
                         g.meta.get(group, {}).get("owner"), len(members), role)

    async def groupsOf(self, user):
        return sorted(self.data.userGroups.get(user, ()))

    async def detailsOf(self, user):
        g = self.g
        return [(group, {"title": g.setting(group, "title"), "role": g.roles[group].get(user, "member"),
                         "visibility": g.setting(group, "visibility")})
                for group in sorted(self.data.userGroups.get(user, ()))]

    async def members(self, group, user, cursor=None, limit=100, admin=False):
        self._unseen(group, user, admin)
        after = int(seniorityCursor(cursor) or 0)
        order, roles, online = self.g.order[group], self.g.roles[group], self.data.online
        ranked = sorted((seq, u) for u, seq in order.items() if seq > after)
        page = [(u, u in online, roles.get(u, "member")) for _, u in ranked[:limit]]
        nextCursor = str(ranked[limit - 1][0]) if len(ranked) > limit else None
        return page, nextCursor, len(order)

    async def directory(self, prefix="", cursor=None, limit=50):
        data, g = self.data, self.g
        names = sorted(n for n in data.groups if n.startswith(prefix) and (cursor is None or n > cursor)
                       and g.setting(n, "visibility") == "public")
        page = [(n, g.setting(n, "title"), len(data.members[n])) for n in names[:limit]]
        return page, (names[limit - 1] if len(names) > limit else None)

    async def size(self, group):
        return len(self.data.members.get(group, ()))
