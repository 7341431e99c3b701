# -*- test-case-name: tests.handlers.test_messaging -*-
"""
Handlers for messages: send and history.
"""

from chatroom.dispatch import handles
from chatroom.events import entryEvent
from chatroom.messages import Conversation, History, Send, timestampOf


class ChatHandler:
    """
    Direct messages and history.
    """

    def __init__(self, messages, presence, delivery, admins=frozenset()):
        """
        @param messages: the L{IMessageStore}.
        @param presence: the L{Presence} that knows where users are.
        @param delivery: the L{Delivery} of stored messages.
        @param admins: the server admins' user names (they may read any
            group's history).
        """
        self.admins = frozenset(admins)
        self.messages = messages
        self.presence = presence
        self.delivery = delivery

    @handles(Send)
    async def send(self, session, request):
        sender, to = session.user, request.to
        stored = await self.messages.sendDirect(sender, to, request.text, request.cid,
                                                recipientExists=to in self.presence.registry)
        recipientNodes, senderNodes = await self.presence.locate(to, sender)
        if not stored.replayed:
            self.delivery.direct(sender, to, request.text, stored.msgId, recipientNodes + senderNodes,
                                 exclude=session)
        return {"msg_id": stored.msgId, "ts": timestampOf(stored.msgId),
                "status": "delivered" if recipientNodes else "stored"}

    @handles(History)
    async def history(self, session, request):
        user = session.user
        conversation = Conversation.of(request)
        admin = conversation.kind == "g" and user in self.admins
        entries, more = await self.messages.history(user, conversation, request.before, request.limit, admin=admin)
        messages = []
        for msgId, fields in entries:
            event = entryEvent(user, conversation, msgId, fields)
            del event["type"]
            messages.append(event)
        return {"messages": messages, "more": more}
