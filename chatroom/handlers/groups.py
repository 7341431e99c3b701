# -*- test-case-name: tests.test_groups -*-
"""
Handlers for groups: create, join, leave, list, members and send.
"""

from chatroom.dispatch import handles
from chatroom.messages import (
    GroupCreate, GroupJoin, GroupLeave, GroupList, GroupMembers, GroupSend,
    messageEvent, timestampOf,
)
from chatroom.protocol import encode
from chatroom.store import keys


class GroupHandler:
    """
    Group membership and group messages.
    """

    def __init__(self, service):
        self.service = service

    @handles(GroupCreate)
    async def create(self, session, request):
        await self.service.groups.create(request.group, session.user)
        await self.service.joinedGroup(session, request.group, created=True)
        return {"group": request.group}

    @handles(GroupJoin)
    async def join(self, session, request):
        user, group = session.user, request.group
        if await self.service.groups.join(group, user):
            await self.service.joinedGroup(session, group)
        return {"group": group}

    @handles(GroupLeave)
    async def leave(self, session, request):
        user, group = session.user, request.group
        await self.service.groups.leave(group, user)
        self.service.leftGroup(session, group)
        return {"group": group}

    @handles(GroupList)
    async def list(self, session, request):
        return {"groups": await self.service.groups.groupsOf(session.user)}

    @handles(GroupMembers)
    async def members(self, session, request):
        members = await self.service.groups.members(request.group)
        return {"members": [{"user": user, "online": online} for user, online in members]}

    @handles(GroupSend)
    async def send(self, session, request):
        group = request.group
        stored = await self.service.messages.sendGroup(group, session.user, request.text, request.cid)
        ts = timestampOf(stored.msgId)
        if not stored.replayed:
            # Encoded once; the same bytes go to every member's connections.
            payload = encode(messageEvent(stored.msgId, session.user, request.text, ts, group=group))
            self.service.deliverMessage(
                self.service.registry.members(group), keys.groupStream(group), stored.msgId, payload, exclude=session
            )
            self.service.relay.group(group, stored.msgId, payload)
        return {"msg_id": stored.msgId, "ts": ts}
