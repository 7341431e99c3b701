# -*- test-case-name: tests.handlers.test_messaging -*-
"""
Conversations: every message in a Redis stream per conversation (the stream
id is the msg_id and carries the server's clock), per-user read positions,
and the index of conversations that may hold unread messages.
"""

import attr
from zope.interface import implementer

from chatroom.messages import Conversation
from chatroom.store import keys
from chatroom.store.batch import ScriptBatch
from chatroom.store.interfaces import IMessageStore
from chatroom.store.scripts import Script

DEFAULT_RETENTION = 100_000

_sendDirect = Script("send_direct")
_sendGroup = Script("send_group")
_ack = Script("ack")
_history = Script("history")
_backlogIndex = Script("backlog_index")

# A placeholder key for scripts called without an optional key, so that every
# call names the same number of keys.
_NO_KEY = keys.PREFIX + "-"


@attr.s(frozen=True, slots=True)
class Stored:
    """
    The outcome of storing a message.

    @ivar msgId: its msg_id.
    @ivar status: for direct messages, C{"delivered"} if the recipient was
        online, C{"stored"} otherwise.
    @ivar replayed: C{True} if a send with the same cid was stored before,
        so nothing new was stored and nothing must be delivered.
    @ivar nodes: for direct messages, the nodes where the recipient or the
        sender has connections.
    """

    msgId = attr.ib()
    status = attr.ib(default=None)
    replayed = attr.ib(default=False)
    nodes = attr.ib(default=())

    @classmethod
    def fromDirectReply(cls, fields):
        """
        Read the fields of one C{send_direct} reply: C{1, msg_id, status,
        replayed, nodes}.
        """
        _, msgId, status, replayed, nodes = fields
        return cls(msgId, status, replayed == "1", nodes.split(",") if nodes else ())


def streamOf(conversation, user):
    """
    The Redis stream of C{conversation} as seen by C{user}.
    """
    if conversation.kind == "u":
        return keys.directStream(user, conversation.name)
    return keys.groupStream(conversation.name)


@implementer(IMessageStore)
class MessageStore:
    """
    Messages, read positions and the unread index.

    @ivar retention: the most messages kept per conversation (older ones
        are trimmed, approximately, as new ones arrive).
    """

    def __init__(self, link, retention=DEFAULT_RETENTION, reactor=None):
        if reactor is None:
            reactor = link.reactor
        self.link = link
        self.reactor = reactor
        self.retention = retention
        self._sendDirect = ScriptBatch(
            link, reactor, _sendDirect, Stored.fromDirectReply, [retention, keys.USER, keys.PENDING, keys.LOCATIONS]
        )
        self._ack = ScriptBatch(link, reactor, _ack, _moved)

    def sendDirect(self, sender, recipient, text, cid=None):
        """
        Store a direct message; mark it unread for C{recipient}.

        The sends of one reactor turn are stored by one script call (a
        group commit); each still gets its own outcome.

        @rtype: L{Stored}
        """
        return self._sendDirect(
            recipient, keys.directStream(sender, recipient), sender, text,
            "" if cid is None else keys.cid(sender, "u:" + recipient, cid),
        )

    async def sendGroup(self, group, sender, text, cid=None):
        """
        Store a message to C{group} from one of its members.

        @rtype: L{Stored}
        """
        msgId, replayed = await self.link.run(
            _sendGroup,
            [keys.GROUPS, keys.groupMembers(group), keys.groupStream(group),
             _NO_KEY if cid is None else keys.cid(sender, "g:" + group, cid)],
            [group, sender, text, self.retention, 0 if cid is None else 1],
        )
        return Stored(msgId, None, replayed == 1 or replayed == "1")

    def _conversationKeys(self, user, conversation):
        if conversation.kind == "u":
            return [keys.user(conversation.name), _NO_KEY]
        return [keys.GROUPS, keys.groupMembers(conversation.name)]

    def ack(self, user, conversation, upto):
        """
        Move C{user}'s read position in C{conversation} forward to C{upto}
        (batched with the other acks of the reactor turn).

        @return: a Deferred firing C{True} if the position moved.
        """
        nameKey, membersKey = self._conversationKeys(user, conversation)
        return self._ack(
            conversation.kind, conversation.name, user, upto,
            nameKey, membersKey, streamOf(conversation, user), keys.readPositions(user), keys.pending(user),
        )

    async def history(self, user, conversation, before, limit):
        """
        Up to C{limit} messages of C{conversation} before C{before} (a msg_id
        or C{None} for the newest), oldest first.

        @return: C{(entries, more)}; each entry is C{(msg_id, fields)}.
        """
        end = "+" if before is None else "(" + before
        entries = await self.link.run(
            _history,
            self._conversationKeys(user, conversation) + [streamOf(conversation, user)],
            [conversation.kind, conversation.name, user, end, limit + 1],
        )
        more = len(entries) > limit
        entries = entries[:limit]
        entries.reverse()
        return [(msgId, _fields(flat)) for msgId, flat in entries], more

    async def unread(self, user):
        """
        The conversations of C{user} that may hold unread messages, with the
        read position of each, found without scanning other conversations.

        @return: a list of C{(Conversation, position)}.
        """
        flat = await self.link.run(
            _backlogIndex,
            [keys.pending(user), keys.userGroups(user), keys.readPositions(user)],
            [keys.GROUP_STREAM],
        )
        return [(Conversation(flat[i], flat[i + 1]), flat[i + 2]) for i in range(0, len(flat), 3)]

    async def after(self, user, conversation, position, count):
        """
        Up to C{count} messages of C{conversation} after C{position}.

        @return: a list of C{(msg_id, fields)}.
        """
        entries = await self.link.execute(
            "XRANGE", streamOf(conversation, user), "(" + position, "+", "COUNT", count
        )
        return [(msgId, _fields(flat)) for msgId, flat in entries]


def _moved(fields):
    # One ack's reply: 1, moved (0/1).
    return fields[1] == "1"


def _fields(flat):
    """
    A stream entry's field list as a dict (C{f}: sender, C{t}: text).
    """
    return dict(zip(flat[::2], flat[1::2]))
