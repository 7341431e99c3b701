# -*- test-case-name: tests.handlers.test_messaging -*-
"""
Conversations: every message in a Redis stream per conversation (the stream
id is the msg_id and carries the server's clock) and per-user read
positions, all of a conversation in its own hash slot.
"""

import collections

import attr
from twisted.internet import defer
from zope.interface import implementer

from chatroom import errors
from chatroom.messages import Conversation
from chatroom.store import faults, keys
from chatroom.store.connection import allOf
from chatroom.store.interfaces import IMessageStore
from chatroom.store.scripts import Script

DEFAULT_RETENTION = 100_000

#: Direct conversations whose users are known to exist and to name each
#: other in their indexes, remembered per process (a bounded LRU).
INTRODUCED_CACHE = 50_000

_sendDirect = Script("send_direct")

#: What Redis answers an XADD to a sealed stream (see block_mark.lua).
SEALED = "exhausted the last possible ID"
_sendGroup = Script("send_group")
_ack = Script("ack")
_history = Script("history")
_introduce = Script("introduce")
_unreadPosition = Script("unread_position")
_after = Script("after")


@attr.s(frozen=True, slots=True)
class Stored:
    """
    The outcome of storing a message.

    @ivar msgId: its msg_id.
    @ivar replayed: C{True} if a send with the same cid was stored before,
        so nothing new was stored and nothing must be delivered.
    """

    msgId = attr.ib()
    replayed = attr.ib(default=False)

    @classmethod
    def fromReply(cls, reply):
        """
        Read a send script's reply, C{'msg_id|replayed'}.
        """
        msgId, _, replayed = reply.partition("|")
        return cls(msgId, replayed == "1")


def conversationKeys(user, conversation):
    """
    The keys of C{conversation}'s scripts, one hash slot: its stream, read
    positions, retracted set and unread counts, and for a group the keys
    its membership is checked with.
    """
    if conversation.kind == "u":
        peer = conversation.name
        return [keys.directStream(user, peer), keys.directRead(user, peer), keys.directRetracted(user, peer),
                keys.directUnread(user, peer)]
    group = conversation.name
    return [keys.groupStream(group), keys.groupRead(group), keys.groupRetracted(group), keys.groupUnread(group),
            keys.group(group), keys.groupMembers(group)]


@implementer(IMessageStore)
class MessageStore:
    """
    Messages and read positions, each conversation in its own hash slot.

    A direct send is one script in the conversation's slot (the commit
    point); before a sender's first message to a recipient, the
    recipient's index of conversations is made to name the sender (in the
    recipient's slot), so a crash in between leaves at most an index entry
    with no messages.

    @ivar retention: the most messages kept per conversation (older ones
        are trimmed, approximately, as new ones arrive).
    """

    faults = faults.NONE

    def __init__(self, link, retention=DEFAULT_RETENTION):
        self.link = link
        self.retention = retention
        self._introduced = collections.OrderedDict()

    def _remember(self, pair):
        introduced = self._introduced
        introduced[pair] = True
        if len(introduced) > INTRODUCED_CACHE:
            introduced.popitem(last=False)

    async def mustExist(self, user, peer):
        """
        L{errors.NoSuchUser} unless C{peer}, named in a request of C{user}
        about their conversation, exists.
        """
        if (user, peer) not in self._introduced and (peer, user) not in self._introduced:
            if not int(await self.link.execute("EXISTS", keys.user(peer))):
                raise errors.NoSuchUser()

    def sendDirect(self, sender, recipient, text, cid=None, recipientExists=False):
        """
        Store a direct message: a Deferred of a L{Stored}.

        @param recipientExists: the caller knows that C{recipient} has an
            account (it is logged in on this node), so the first message
            of the pair need not ask Redis.
        """
        pair = (sender, recipient)
        if pair in self._introduced:
            # The common case, kept free of coroutines: one command.
            return self._store(sender, recipient, text, cid)
        if recipientExists and self.link.ordered:
            # One connection runs commands in the order they are written:
            # both indexes take effect before the message, with no wait.
            d = allOf([
                self.link.execute("SADD", keys.userPeers(recipient), sender),
                self.link.execute("SADD", keys.userWrote(sender), recipient),
                self._store(sender, recipient, text, cid),
            ])
            return d.addCallback(self._indexed, pair)
        return defer.ensureDeferred(self._introduceAndStore(sender, recipient, text, cid, recipientExists))

    def _indexed(self, replies, pair):
        self._remember(pair)
        return replies[-1]

    async def _introduceAndStore(self, sender, recipient, text, cid, recipientExists):
        # Once per pair and process: the recipient exists, and its index
        # names the sender, before the message is stored (an entry with no
        # messages is harmless, a missing one would hide the conversation).
        if recipientExists:
            await self.link.execute("SADD", keys.userPeers(recipient), sender)
        else:
            await self.link.run(_introduce, [keys.user(recipient), keys.userPeers(recipient)], [sender])
        self.faults("send.introduced")
        # The sender's own index (its conversation list, and the mark that
        # it wrote here, which its unread count relies on) is written with
        # the message, before it on one connection, once the recipient is
        # known to exist (so no entry names a stranger).
        _, stored = await allOf([
            self.link.execute("SADD", keys.userWrote(sender), recipient),
            self._store(sender, recipient, text, cid),
        ])
        self._remember((sender, recipient))
        return stored

    def _store(self, sender, recipient, text, cid):
        stream = keys.directStream(sender, recipient)
        if cid is None:
            # The bare command: a block seals the stream (block_mark.lua),
            # so this XADD is also the block check.
            d = self.link.execute("XADD", stream, "MAXLEN", "~", self.retention, "*", "f", sender, "t", text)
            d.addCallback(self._added)
        else:
            d = self.link.run(
                _sendDirect, [stream, keys.directBlocked(sender, recipient), keys.directCid(sender, recipient, cid)],
                [sender, text, self.retention])
            d.addCallback(self._stored)
        return d.addErrback(self._refused, sender, recipient)

    def _refused(self, failure, sender, recipient):
        # A sealed stream refuses both ways: who blocked whom decides the
        # answer (only on this rare path, one more command).
        if not failure.check(errors.Blocked) and SEALED not in str(failure.value):
            return failure

        def answer(recipientBlocks):
            if int(recipientBlocks):
                raise errors.Blocked()
            raise errors.Forbidden("you have blocked %s: unblock them to write to them" % (recipient,))

        return self.link.execute("SISMEMBER", keys.directBlocked(sender, recipient), recipient).addCallback(answer)

    def _added(self, msgId):
        self.faults("send.stored")
        return Stored(msgId, False)

    def _stored(self, reply):
        self.faults("send.stored")
        return Stored.fromReply(reply)

    async def sendGroup(self, group, sender, text, cid=None):
        """
        Store a message to C{group} from one of its members.

        @rtype: L{Stored}
        """
        stream = keys.groupStream(group)
        reply = await self.link.run(
            _sendGroup,
            [keys.group(group), keys.groupMembers(group), stream,
             stream if cid is None else keys.groupCid(sender, group, cid)],
            [sender, text, self.retention, 0 if cid is None else 1],
        )
        return Stored.fromReply(reply)

    async def ack(self, user, conversation, upto):
        """
        Move C{user}'s read position in C{conversation} forward to C{upto}.

        @return: the new position if it moved, else C{None}.
        """
        if conversation.kind == "u":
            await self.mustExist(user, conversation.name)
        return await self.link.run(_ack, conversationKeys(user, conversation), [user, upto]) or None

    async def history(self, user, conversation, before, limit, admin=False):
        """
        Up to C{limit} messages of C{conversation} before C{before} (a msg_id
        or C{None} for the newest), oldest first; for a group, from the
        user's joining if it joined under the "joined" rule.  A server
        C{admin} may read any group's.

        @return: C{(entries, more)}; each entry is C{(msg_id, fields)}.
        """
        if conversation.kind == "u":
            await self.mustExist(user, conversation.name)
        scriptKeys = conversationKeys(user, conversation)
        if conversation.kind == "g":
            scriptKeys.append(keys.groupFrom(conversation.name))
        entries = await self.link.run(
            _history, scriptKeys, [user, before or "", limit + 1, 1 if admin else 0])
        more = len(entries) > limit
        entries = entries[:limit]
        entries.reverse()
        return [(msgId, entryFields(flat)) for msgId, flat in entries], more

    async def unread(self, user):
        """
        The conversations of C{user} that hold messages after its read
        position, with the position of each: one look at each of the user's
        own conversations (found through its indexes), none at any other.

        @return: a list of C{(Conversation, position)}.
        """
        peers, groups = await allOf([
            self.link.execute("SMEMBERS", keys.userPeers(user)),
            self.link.execute("SMEMBERS", keys.userGroups(user)),
        ])
        conversations = [Conversation("u", p) for p in peers] + [Conversation("g", g) for g in groups]
        positions = await allOf([
            self.link.run(_unreadPosition, conversationKeys(user, c), [user]) for c in conversations
        ])
        found = []
        for conversation, position in zip(conversations, positions):
            if position and position != "-":
                found.append((conversation, position))
        return found

    async def after(self, user, conversation, position, count):
        """
        Up to C{count} messages of C{conversation} after C{position}.

        @return: a list of C{(msg_id, fields)}.
        """
        entries = await self.link.run(_after, conversationKeys(user, conversation), [position, count])
        return [(msgId, entryFields(flat)) for msgId, flat in entries]


def entryFields(flat):
    """
    A stream entry's field list as a dict (C{f}: sender, C{t}: text).
    """
    return dict(zip(flat[::2], flat[1::2]))
