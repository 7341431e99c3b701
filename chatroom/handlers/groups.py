# -*- test-case-name: tests.handlers.test_groups -*-
"""
Handlers for groups: create, join, leave, list, members and send; and
running a group (1.1): info, settings, add, kick, ban, roles, delete and
the directory of public groups.

Who may do what is decided by the store, atomically with the change; the
handler only says whether the caller is a server admin (C{--admin}), who
has every right of an owner in every group.
"""

from chatroom import errors
from chatroom.dispatch import handles
from chatroom.grouprequests import (
    GroupAdd, GroupBan, GroupDelete, GroupDirectory, GroupInfo, GroupKick, GroupRole, GroupSet, GroupUnban,
    groupChange,
)
from chatroom.messages import GroupCreate, GroupJoin, GroupLeave, GroupList, GroupMembers, GroupSend, timestampOf
from chatroom.protocol import encode


class GroupHandler:
    """
    Group membership, group messages and the running of groups.
    """

    def __init__(self, groups, messages, presence, delivery, maxGroupsPerUser=0, maxGroupMembers=0,
                 accounts=None, admins=frozenset()):
        """
        @param groups: the L{IGroupStore}.
        @param messages: the L{IMessageStore}.
        @param presence: the L{Presence} that follows membership changes.
        @param delivery: the L{Delivery} of stored messages.
        @param maxGroupsPerUser: the groups a user may be in (0: no limit).
        @param maxGroupMembers: the members a group may have, the lobby
            excepted (0: no limit).
        @param accounts: the L{IAccountStore}, to know whether a user named
            by C{group.add} or C{group.ban} exists.
        @param admins: the server admins' user names.
        """
        self.groups = groups
        self.maxGroupsPerUser = maxGroupsPerUser
        self.maxGroupMembers = maxGroupMembers
        self.messages = messages
        self.presence = presence
        self.delivery = delivery
        self.accounts = accounts
        self.admins = frozenset(admins)

    def _admin(self, session):
        return session.user in self.admins

    async def _mustExist(self, user):
        if self.accounts is not None and await self.accounts.credentials(user) is None:
            raise errors.NoSuchUser()

    @handles(GroupCreate)
    async def create(self, session, request):
        visibility = request.visibility or "public"
        # A private group is for a team: by default its members see from
        # their joining, as a new colleague added to a private channel.
        history = request.history or ("joined" if visibility == "private" else "shared")
        await self.groups.create(request.group, session.user, maxGroups=self.maxGroupsPerUser,
                                 visibility=visibility, history=history, title=request.title or "")
        await self.presence.joined(session, request.group, created=True)
        return {"group": request.group}

    @handles(GroupJoin)
    async def join(self, session, request):
        group = request.group
        joined = await self.groups.join(group, session.user, maxGroups=self.maxGroupsPerUser,
                                        maxMembers=self.maxGroupMembers, admin=self._admin(session))
        if joined:
            await self.presence.joined(session, group)
        return {"group": group}

    @handles(GroupLeave)
    async def leave(self, session, request):
        group = request.group
        removal = await self.groups.leave(group, session.user)
        self.presence.left(session, group)
        self._heir(group, removal, session.user, session)
        return {"group": group}

    def _heir(self, group, removal, by, session):
        # Ownership passed on: the group hears who owns it now.
        if removal.heir is not None:
            self.presence.announce(group, encode(groupChange(group, removal.heir, "role", by, role="owner")),
                                   exclude=session)

    @handles(GroupList)
    async def list(self, session, request):
        details = await self.groups.detailsOf(session.user)
        return {"groups": [group for group, _ in details],
                "detail": [dict(detail, group=group) for group, detail in details]}

    @handles(GroupMembers)
    async def members(self, session, request):
        page, cursor, total = await self.groups.members(request.group, session.user, request.cursor, request.limit,
                                                       admin=self._admin(session))
        return {"members": [{"user": user, "online": online, "role": role} for user, online, role in page],
                "cursor": cursor, "total": total}

    @handles(GroupInfo)
    async def info(self, session, request):
        info = await self.groups.info(request.group, session.user, admin=self._admin(session))
        return {"group": request.group, "title": info.title, "visibility": info.visibility,
                "history": info.history, "owner": info.owner, "members": info.members, "role": info.role}

    @handles(GroupSet)
    async def set(self, session, request):
        group, user = request.group, session.user
        settings = {name: getattr(request, name) for name in ("title", "visibility", "history")
                    if getattr(request, name) is not None}
        changed = await self.groups.configure(group, user, settings, admin=self._admin(session))
        if changed:
            self.presence.announce(group, encode(groupChange(group, user, "updated", user, **changed)),
                                   exclude=session)
        return {"group": group}

    @handles(GroupAdd)
    async def add(self, session, request):
        group, user = request.group, request.user
        await self._mustExist(user)
        added = await self.groups.add(group, session.user, user, maxGroups=self.maxGroupsPerUser,
                                      maxMembers=self.maxGroupMembers, admin=self._admin(session))
        if added:
            await self.presence.added(group, user, encode(groupChange(group, user, "added", session.user)),
                                      exclude=session)
        return {"group": group, "user": user}

    @handles(GroupKick)
    async def kick(self, session, request):
        removal = await self.groups.kick(request.group, session.user, request.user, admin=self._admin(session))
        self._removed(session, request, removal, "kicked")

    @handles(GroupBan)
    async def ban(self, session, request):
        await self._mustExist(request.user)
        removal = await self.groups.ban(request.group, session.user, request.user, admin=self._admin(session))
        if removal.changed:
            self._removed(session, request, removal, "banned")

    def _removed(self, session, request, removal, event):
        group, user, by = request.group, request.user, session.user
        payload = encode(groupChange(group, user, event, by))
        if removal.deleted:
            self.presence.deleted(group, payload, exclude=session)
            return
        self.presence.removed(group, user, payload, exclude=session)
        self._heir(group, removal, by, session)

    @handles(GroupUnban)
    async def unban(self, session, request):
        await self.groups.unban(request.group, session.user, request.user, admin=self._admin(session))

    @handles(GroupRole)
    async def role(self, session, request):
        group, user, by = request.group, request.user, session.user
        changed, previous = await self.groups.setRole(group, by, user, request.role, admin=self._admin(session))
        if changed:
            self.presence.announce(group, encode(groupChange(group, user, "role", by, role=request.role)),
                                   exclude=session)
        if previous is not None:
            self.presence.announce(group, encode(groupChange(group, previous, "role", by, role="admin")),
                                   exclude=session)

    @handles(GroupDelete)
    async def delete(self, session, request):
        group, by = request.group, session.user
        await self.groups.delete(group, by, admin=self._admin(session))
        self.presence.deleted(group, encode(groupChange(group, by, "deleted", by)), exclude=session)

    @handles(GroupDirectory)
    async def directory(self, session, request):
        page, cursor = await self.groups.directory(request.prefix or "", request.cursor, request.limit)
        return {"groups": [{"group": group, "title": title, "members": members} for group, title, members in page],
                "cursor": cursor}

    @handles(GroupSend)
    async def send(self, session, request):
        group = request.group
        stored = await self.messages.sendGroup(group, session.user, request.text, request.cid)
        if not stored.replayed:
            self.delivery.group(group, session.user, request.text, stored.msgId, exclude=session)
        return {"msg_id": stored.msgId, "ts": timestampOf(stored.msgId)}
