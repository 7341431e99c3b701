# -*- test-case-name: tests.handlers.test_conversations -*-
"""
The conversation list, retraction and the read-receipts setting in memory:
the rules of C{conversation_last.lua}, C{conversation_state.lua},
C{retract.lua} and C{setting_set.lua} written again in Python, on a
L{chatroom.store.memory.MemoryData}.
"""

import bisect

from zope.interface import implementer

from chatroom import errors
from chatroom.messages import Conversation, msgIdKey
from chatroom.store.conversations import UNREAD_BUDGET, UNREAD_CAP, ConversationState, _position, _retracted
from chatroom.store.interfaces import IConversationStore


@implementer(IConversationStore)
class MemoryConversationStore:
    """
    The conversation list, retraction and settings, in memory.
    """

    def __init__(self, data, messages):
        self.data = data
        self.messages = messages

    async def index(self, user):
        data = self.data
        return ([Conversation("u", p) for p in data.peers.get(user, ())]
                + [Conversation("g", g) for g in data.userGroups.get(user, ())])

    def _notMember(self, user, conversation):
        data = self.data
        return conversation.kind == "g" and (
            conversation.name not in data.groups or user not in data.members[conversation.name])

    async def activity(self, user, conversations):
        data = self.data
        return ["-" if self._notMember(user, c) else data.lastOf(c.identity(user)) for c in conversations]

    async def states(self, user, conversations):
        return [None if self._notMember(user, c) else self._state(user, c) for c in conversations]

    def _state(self, user, conversation):
        data = self.data
        read = data.read.get(user, {}).get(conversation.kind + ":" + conversation.name)
        if conversation.kind == "g":
            read = read or data.members[conversation.name][user]
        stream = data.streams.get(conversation.identity(user))
        if stream is None or not stream.ids:
            return ConversationState(conversation, None, _position(read), 0)
        # As the script: newest first, down to the read position, retracted
        # messages skipped (they are no longer stream entries there).
        start = msgIdKey(read or "0-0")
        unread = looked = 0
        for index in range(len(stream.ids) - 1, -1, -1):
            if unread >= UNREAD_CAP or looked >= UNREAD_BUDGET or stream.keys[index] <= start:
                break
            fields = stream.fields[index]
            if "r" in fields:
                continue
            looked += 1
            if fields["f"] != user:
                unread += 1
        last = (stream.ids[-1], dict(stream.fields[-1]))
        return ConversationState(conversation, last, _position(read), unread)

    async def retract(self, user, conversation, msgId, serverAdmin=False):
        data = self.data
        serverAdmin = serverAdmin and conversation.kind == "g"
        if conversation.kind == "u":
            await self.messages.mustExist(user, conversation.name)
        else:
            group = conversation.name
            if group not in data.groups:
                raise errors.NoSuchGroup()
            if not serverAdmin and user not in data.members[group]:
                raise errors.NotMember()
        stream = data.streams.get(conversation.identity(user))
        key = msgIdKey(msgId)
        index = bisect.bisect_left(stream.keys, key) if stream is not None else 0
        if stream is None or index == len(stream.keys) or stream.keys[index] != key:
            return _retracted("unknown")
        fields = stream.fields[index]
        sender = fields["f"]
        if sender != user and not serverAdmin:
            if data.groupData.roles.get(conversation.name, {}).get(user) not in ("owner", "admin") or conversation.kind != "g":
                return _retracted("forbidden")
        if "r" in fields:
            return _retracted("again|" + sender)
        stream.fields[index] = {"f": sender, "r": "1"}
        return _retracted("done|" + sender)

    async def readReceipts(self, user):
        return self.data.settings.get(user, {}).get("receipts", True)

    async def setReadReceipts(self, user, on):
        if user not in self.data.users:
            raise errors.NoSuchUser()
        self.data.settings[user]["receipts"] = bool(on)
