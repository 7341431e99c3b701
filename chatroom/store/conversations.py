# -*- test-case-name: tests.handlers.test_conversations -*-
"""
A user's conversation list, retraction and the read-receipts setting on
Redis: every script in the conversation's slot, the setting in the user's.
"""

import attr
from zope.interface import implementer

from chatroom import errors
from chatroom.messages import Conversation
from chatroom.store import keys
from chatroom.store.connection import allOf
from chatroom.store.interfaces import IConversationStore
from chatroom.store.messages import entryFields, conversationKeys
from chatroom.store.scripts import Script

#: Unread counts stop here (reported as this number).
UNREAD_CAP = 1000
#: The most messages looked at, newest first, to count one conversation's
#: unread ones (a user's own long run after its read position stops it).
UNREAD_BUDGET = 5000

_last = Script("conversation_last")
_state = Script("conversation_state")
_retract = Script("retract")
_setting = Script("setting_set")


@attr.s(frozen=True, slots=True)
class ConversationState:
    """
    One entry of a user's conversation list.

    @ivar conversation: the L{Conversation}.
    @ivar last: the newest message, C{(msg_id, fields)}, or C{None}.
    @ivar read: the user's read position (a msg_id) or C{None}.
    @ivar unread: messages from others after it, at most L{UNREAD_CAP}.
    """

    conversation = attr.ib()
    last = attr.ib()
    read = attr.ib()
    unread = attr.ib()


class _Index(list):
    """
    A user's conversations as L{ConversationStore.index} found them, with
    the peers the user wrote to (read with them), so that L{states} of the
    whole index need not ask again.
    """

    def __init__(self, conversations, wrote):
        super().__init__(conversations)
        self.wrote = wrote


def _position(value):
    # "0-0" is where a read position starts: nothing read yet.
    return None if not value or value == "0-0" else value


@implementer(IConversationStore)
class ConversationStore:
    """
    The conversation list, retraction and settings, on Redis.
    """

    def __init__(self, link, messages):
        """
        @param messages: the L{chatroom.store.messages.MessageStore}, for
            its retention and its knowledge of which users exist.
        """
        self.link = link
        self.messages = messages

    async def index(self, user):
        """
        The conversations of C{user}'s indexes (peers, then groups).
        """
        peers, wrote, groups = await allOf([
            self.link.execute("SMEMBERS", keys.userPeers(user)),
            self.link.execute("SMEMBERS", keys.userWrote(user)),
            self.link.execute("SMEMBERS", keys.userGroups(user)),
        ])
        wrote = set(wrote)
        return _Index([Conversation("u", p) for p in wrote.union(peers)] + [Conversation("g", g) for g in groups],
                      wrote)

    async def activity(self, user, conversations):
        """
        The newest msg_id of each of C{conversations} (C{None} for none,
        C{"-"} for a group the user is not in or a direct conversation with
        no message): one script each, pipelined.
        """
        found = await allOf([self.link.run(_last, conversationKeys(user, c), [user]) for c in conversations])
        # A direct conversation with no message is a stale index entry (a
        # first message refused after the index step): not listed.
        return [value or ("-" if c.kind == "u" else None) for c, value in zip(conversations, found)]

    async def states(self, user, conversations):
        """
        The L{ConversationState} of each of C{conversations} (C{None} for a
        group the user is not in): one script each, pipelined, after
        looking up which peers the user wrote to, unless C{conversations}
        is an L{index} that knows (the others' conversations are counted
        without reading their entries).
        """
        if isinstance(conversations, _Index):
            wrote = conversations.wrote
        elif any(c.kind == "u" for c in conversations):
            wrote = set(await self.link.execute("SMEMBERS", keys.userWrote(user)))
        else:
            wrote = ()
        replies = await allOf([
            self.link.run(_state, conversationKeys(user, c),
                          [user, UNREAD_CAP, UNREAD_BUDGET, 0 if c.kind == "u" and c.name not in wrote else 1])
            for c in conversations
        ])
        states = []
        for conversation, reply in zip(conversations, replies):
            if reply == "-" or (conversation.kind == "u" and not reply[0]):
                # Not a member (any more), or no message: stale index entries.
                states.append(None)
                continue
            last, read, unread = reply
            states.append(ConversationState(
                conversation, (last[0], entryFields(last[1])) if last else None, _position(read), int(unread)))
        return states

    async def retract(self, user, conversation, msgId, serverAdmin=False):
        """
        Retract message C{msgId} of C{conversation}: its sender may, in a
        group also its owner and admins, and a server admin.

        @return: C{(sender, changed)}; C{changed} is false if it was
            retracted before.
        @raise errors.BadRequest: no such message.
        @raise errors.Forbidden: not the caller's to retract.
        """
        scriptKeys = conversationKeys(user, conversation)
        if conversation.kind == "u":
            await self.messages.mustExist(user, conversation.name)
        else:
            scriptKeys.append(keys.groupRoles(conversation.name))
        reply = await self.link.run(_retract, scriptKeys, [
            user, msgId, 1 if serverAdmin and conversation.kind == "g" else 0, self.messages.retention])
        return _retracted(reply)

    async def readReceipts(self, user):
        """
        Whether C{user} sends read receipts (the default).
        """
        return await self.link.execute("HGET", keys.user(user), "receipts") != "0"

    async def setReadReceipts(self, user, on):
        """
        Turn C{user}'s read receipts on or off.
        """
        await self.link.run(_setting, [keys.user(user)], ["receipts", "1" if on else "0"])


def _retracted(reply):
    """
    Read the retract script's reply.
    """
    if reply == "unknown":
        raise errors.BadRequest("field 'msg_id' names no message of that conversation")
    if reply == "forbidden":
        raise errors.Forbidden("only its sender or the group's owner and admins may retract a message")
    outcome, _, sender = reply.partition("|")
    return sender, outcome == "done"
