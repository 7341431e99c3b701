# -*- test-case-name: tests.handlers.test_groups -*-
"""
Handlers for groups: create, join, leave, list, members and send.
"""

from chatroom.dispatch import handles
from chatroom.messages import GroupCreate, GroupJoin, GroupLeave, GroupList, GroupMembers, GroupSend, timestampOf


class GroupHandler:
    """
    Group membership and group messages.
    """

    def __init__(self, groups, messages, presence, delivery, maxGroupsPerUser=0, maxGroupMembers=0):
        """
        @param groups: the L{IGroupStore}.
        @param messages: the L{IMessageStore}.
        @param presence: the L{Presence} that follows membership changes.
        @param delivery: the L{Delivery} of stored messages.
        @param maxGroupsPerUser: the groups a user may be in (0: no limit).
        @param maxGroupMembers: the members a group may have, the lobby
            excepted (0: no limit).
        """
        self.groups = groups
        self.maxGroupsPerUser = maxGroupsPerUser
        self.maxGroupMembers = maxGroupMembers
        self.messages = messages
        self.presence = presence
        self.delivery = delivery

    @handles(GroupCreate)
    async def create(self, session, request):
        await self.groups.create(request.group, session.user, maxGroups=self.maxGroupsPerUser)
        await self.presence.joined(session, request.group, created=True)
        return {"group": request.group}

    @handles(GroupJoin)
    async def join(self, session, request):
        group = request.group
        joined = await self.groups.join(
            group, session.user, maxGroups=self.maxGroupsPerUser, maxMembers=self.maxGroupMembers)
        if joined:
            await self.presence.joined(session, group)
        return {"group": group}

    @handles(GroupLeave)
    async def leave(self, session, request):
        group = request.group
        await self.groups.leave(group, session.user)
        self.presence.left(session, group)
        return {"group": group}

    @handles(GroupList)
    async def list(self, session, request):
        return {"groups": await self.groups.groupsOf(session.user)}

    @handles(GroupMembers)
    async def members(self, session, request):
        members = await self.groups.members(request.group)
        return {"members": [{"user": user, "online": online} for user, online in members]}

    @handles(GroupSend)
    async def send(self, session, request):
        group = request.group
        stored = await self.messages.sendGroup(group, session.user, request.text, request.cid)
        if not stored.replayed:
            self.delivery.group(group, session.user, request.text, stored.msgId, exclude=session)
        return {"msg_id": stored.msgId, "ts": timestampOf(stored.msgId)}
