# -*- test-case-name: tests.store.test_memory -*-
"""
Messages in memory (L{chatroom.store.memory}): direct and group sends,
read positions, history and what a login pushes, by the rules of the Redis
store's scripts.
"""

from zope.interface import implementer

from chatroom import errors
from chatroom.messages import Conversation, directIdentity, groupIdentity, msgIdKey
from chatroom.store.interfaces import IMessageStore
from chatroom.store.memory_controls import personalOf
from chatroom.store.messages import DEFAULT_RETENTION, Stored

#: Seconds a cid is remembered.
CID_LIFETIME = 86400


def _before(a, b):
    return msgIdKey(a) < msgIdKey(b)


@implementer(IMessageStore)
class MemoryMessageStore:
    """
    Conversations, read positions and the unread index in memory.
    """

    def __init__(self, data, retention=DEFAULT_RETENTION):
        self.data = data
        self.retention = retention

    async def sendDirect(self, sender, recipient, text, cid=None, recipientExists=False):
        data = self.data
        if data.users.get(recipient, (None,))[0] is None:
            # Unknown, or deleted (its password hash is gone).
            raise errors.NoSuchUser()
        # Refused while either blocks the other, as a sealed stream is.
        blocks = personalOf(data).blocks
        if sender in blocks.get(recipient, ()):
            raise errors.Blocked()
        if recipient in blocks.get(sender, ()):
            raise errors.Forbidden("you have blocked %s: unblock them to write to them" % (recipient,))
        cidKey = None if cid is None else (sender, "u:" + recipient, cid)
        if cidKey is not None:
            previous = data.cid(cidKey)
            if previous is not None:
                return Stored(previous, True)
        identity = directIdentity(sender, recipient)
        msgId = data.streams[identity].add(data.clock.seconds(), sender, text, self.retention)
        data.pending[recipient][sender] = identity
        data.peers[recipient].add(sender)
        data.peers[sender].add(recipient)
        if cidKey is not None:
            data.cids[cidKey] = (msgId, data.clock.seconds() + CID_LIFETIME)
        return Stored(msgId, False)

    async def sendGroup(self, group, sender, text, cid=None):
        data = self.data
        if group not in data.groups:
            raise errors.NoSuchGroup()
        if sender not in data.members[group]:
            raise errors.NotMember()
        cidKey = None if cid is None else (sender, "g:" + group, cid)
        if cidKey is not None:
            previous = data.cid(cidKey)
            if previous is not None:
                return Stored(previous, True)
        msgId = data.streams[groupIdentity(group)].add(data.clock.seconds(), sender, text, self.retention)
        if cidKey is not None:
            data.cids[cidKey] = (msgId, data.clock.seconds() + CID_LIFETIME)
        return Stored(msgId, False)

    async def ack(self, user, conversation, upto):
        data = self.data
        refused = data.conversationError(user, conversation)
        if refused is not None:
            raise refused
        last = data.lastOf(conversation.identity(user))
        if last is None:
            return None
        position = last if _before(last, upto) else upto
        field = conversation.kind + ":" + conversation.name
        current = data.read[user].get(field)
        if current is not None and not _before(current, position):
            return None
        data.read[user][field] = position
        if conversation.kind == "u" and position == last:
            data.pending[user].pop(conversation.name, None)
        return position

    async def mustExist(self, user, peer):
        if peer not in self.data.users:
            raise errors.NoSuchUser()

    async def history(self, user, conversation, before, limit, admin=False):
        data = self.data
        refused = data.conversationError(user, conversation, admin)
        if refused is not None:
            raise refused
        stream = data.streams.get(conversation.identity(user))
        entries = stream.before(before, limit + 1) if stream is not None else []
        if conversation.kind == "g":
            start = data.groupData.visibleFrom[conversation.name].get(user)
            if start is not None:
                entries = [e for e in entries if _before(start, e[0])]
        more = len(entries) > limit
        entries = entries[:limit]
        entries.reverse()
        return entries, more

    async def unread(self, user):
        data = self.data
        read = data.read.get(user, {})
        found = []
        pending = data.pending.get(user, {})
        for peer in list(pending):
            position = read.get("u:" + peer, "0-0")
            last = data.lastOf(pending[peer])
            if last is not None and _before(position, last):
                found.append((Conversation("u", peer), position))
            else:
                del pending[peer]
        for group in data.userGroups.get(user, ()):
            joined = data.members[group].get(user, "0-0")
            position = read.get("g:" + group, joined)
            if _before(position, joined):
                position = joined
            last = data.lastOf(groupIdentity(group))
            if last is not None and _before(position, last):
                found.append((Conversation("g", group), position))
        return found

    async def after(self, user, conversation, position, count):
        stream = self.data.streams.get(conversation.identity(user))
        return stream.after(position, count) if stream is not None else []
