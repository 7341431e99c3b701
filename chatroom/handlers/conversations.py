# -*- test-case-name: tests.handlers.test_conversations -*-
"""
Handlers for a user's conversations: the conversation list, ack (and the
C{read} events it sends), typing, retraction and the read-receipts setting.
"""

import weakref

from chatroom.conversations import Conversations, Retract, SettingsSet, Typing, readEvent, retractEvent, typingEvent
from chatroom.dispatch import handles
from chatroom.errors import BadRequest
from chatroom.events import entryEvent
from chatroom.messages import Ack, Conversation, msgIdKey
from chatroom.protocol import encode
from chatroom.repeats import Repeats


class ConversationHandler:
    """
    The conversation list, read state, typing and retraction.
    """

    def __init__(self, messages, conversations, presence, delivery, clock, admins=frozenset()):
        """
        @param messages: the L{IMessageStore}.
        @param conversations: the L{IConversationStore}.
        @param presence: the L{Presence} that knows where users are.
        @param delivery: the L{Delivery} of events.
        @param admins: the server admins' user names.
        """
        self.messages = messages
        self.conversations = conversations
        self.presence = presence
        self.registry = presence.registry
        self.delivery = delivery
        self.clock = clock
        self.admins = admins
        # Session -> (user, read receipts on): looked up at a session's
        # first ack, kept up to date by settings.set on every node.
        self._receipts = weakref.WeakKeyDictionary()
        # (user, conversation) of the typing events that went out lately.
        self._typing = Repeats(clock)

    # The conversation list.

    @handles(Conversations)
    async def list(self, session, request):
        user, store, limit = session.user, self.conversations, request.limit
        after = _cursorKey(request.cursor) if request.cursor is not None else None
        index = await store.index(user)
        if len(index) <= limit:
            # Everything fits in a page: one look at each conversation.
            ranked = []
            for state in await store.states(user, index):
                if state is not None:
                    ranked.append((_orderKey(state.conversation, state.last and state.last[0]), state))
            ranked.sort(key=lambda pair: pair[0])
            if after is not None:
                ranked = [pair for pair in ranked if pair[0] > after]
            page, more = ranked, False
        else:
            # First when each was last active (one id each), then the page.
            activity = await store.activity(user, index)
            ranked = sorted(
                ((_orderKey(c, last), c) for c, last in zip(index, activity) if last != "-"),
                key=lambda pair: pair[0])
            if after is not None:
                ranked = [pair for pair in ranked if pair[0] > after]
            more = len(ranked) > limit
            ranked = ranked[:limit]
            states = await store.states(user, [c for _, c in ranked])
            page = [(key, state) for (key, _), state in zip(ranked, states) if state is not None]
        return {"conversations": [_entry(user, state) for _, state in page],
                "cursor": _cursorOf(page[-1][0]) if more and page else None}

    # Read state.

    @handles(Ack)
    async def ack(self, session, request):
        conversation = Conversation.of(request)
        position = await self.messages.ack(session.user, conversation, request.upto)
        if position is not None:
            await self._read(session, conversation, position)
        return None

    async def _read(self, session, conversation, position):
        # The acker's other connections learn of it, and for a direct
        # conversation the peer, if the acker sends read receipts.
        user, delivery = session.user, self.delivery
        if conversation.kind == "g":
            [nodes] = await self.presence.locate(user)
            delivery.userEvent((user,), nodes, encode(readEvent(user, conversation, position)), session, about=user)
            return
        peer = conversation.name
        receipts = peer != user and await self._receiptsOf(session)
        located = await self.presence.locate(user, peer) if receipts else await self.presence.locate(user)
        nodes = [node for nodes in located for node in nodes]
        delivery.userEvent((user,), nodes, encode(readEvent(user, conversation, position)), session, about=user)
        if receipts:
            delivery.userEvent((peer,), nodes, encode(readEvent(user, Conversation("u", user), position)),
                               about=user)

    async def _receiptsOf(self, session):
        user = session.user
        cached = self._receipts.get(session)
        if cached is None or cached[0] != user:
            cached = (user, await self.conversations.readReceipts(user))
            if session.user == user:
                self._receipts[session] = cached
        return cached[1]

    @handles(SettingsSet)
    async def settingsSet(self, session, request):
        user = session.user
        await self.conversations.setReadReceipts(user, request.readReceipts)
        self.settingChanged(user)
        self.presence.relay.settingChanged(user)
        return None

    def settingChanged(self, user):
        """
        C{user} changed a setting (here or on another node): its sessions
        here look it up again when they need it.
        """
        for session in self.registry.sessions(user):
            self._receipts.pop(session, None)

    # Typing.

    @handles(Typing)
    async def typing(self, session, request):
        user = session.user
        conversation = Conversation("g", request.group) if request.group is not None else Conversation("u", request.peer)
        note = (user, conversation)
        if self._typing.recent(note):
            return None
        if conversation.kind == "g":
            await self._groupTyping(session, conversation)
        else:
            await self._directTyping(session, conversation.name)
        self._typing.mark(note)
        return None

    async def _groupTyping(self, session, conversation):
        user, group = session.user, conversation.name
        if group not in self.registry.groupsOf(user):
            # This node follows its users' groups: not in it.  The store
            # says which error (no_such_group or not_member); nothing is
            # written.
            await self.messages.history(user, conversation, None, 1)
        if self.registry.groupSize(group) > self.presence.maxGroup:
            return
        self.delivery.groupSignal(group, user, encode(typingEvent(user, conversation)))

    async def _directTyping(self, session, peer):
        user = session.user
        if peer not in self.registry:
            await self.messages.mustExist(user, peer)
        if peer == user:
            return
        [nodes] = await self.presence.locate(peer)
        self.delivery.typing((peer,), nodes, user, encode(typingEvent(user, Conversation("u", peer))))

    # Retraction.

    @handles(Retract)
    async def retract(self, session, request):
        user, delivery = session.user, self.delivery
        conversation = Conversation.of(request)
        msgId = request.msgId
        _, changed = await self.conversations.retract(user, conversation, msgId, serverAdmin=user in self.admins)
        if not changed:
            return None
        if conversation.kind == "g":
            delivery.groupEvent(conversation.name, encode(retractEvent(msgId, conversation, user)), exclude=session)
            return None
        peer = conversation.name
        located = await self.presence.locate(user, peer)
        nodes = [node for nodes in located for node in nodes]
        delivery.userEvent((user,), nodes, encode(retractEvent(msgId, conversation, user)), session)
        if peer != user:
            delivery.userEvent((peer,), nodes, encode(retractEvent(msgId, Conversation("u", user), user)))
        return None


def _orderKey(conversation, lastId):
    """
    Where a conversation comes in the list: the most recently active
    first, then those with no message, by name.
    """
    if lastId:
        ms, seq = msgIdKey(lastId)
        return (0, -ms, -seq, conversation.kind, conversation.name)
    return (1, 0, 0, conversation.kind, conversation.name)


def _cursorOf(key):
    empty, ms, seq, kind, name = key
    return "%s|%s|%s" % ("" if empty else "%d-%d" % (-ms, -seq), kind, name)


def _cursorKey(cursor):
    try:
        position, kind, name = cursor.split("|")
        if kind not in ("u", "g") or not name:
            raise ValueError(kind)
        return _orderKey(Conversation(kind, name), position or None)
    except ValueError:
        raise BadRequest("field 'cursor' must be a cursor given by the server") from None


def _entry(user, state):
    """
    One conversation of the list, as the protocol shows it.
    """
    conversation = state.conversation
    entry = {"group": conversation.name} if conversation.kind == "g" else {"with": conversation.name}
    entry["last"] = entryEvent(user, conversation, *state.last) if state.last is not None else None
    entry["unread"] = state.unread
    entry["read"] = state.read
    return entry
