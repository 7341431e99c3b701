# -*- test-case-name: tests.test_messaging -*-
"""
Handlers for messages: send, history and ack.
"""

from chatroom.dispatch import handles
from chatroom.messages import Ack, History, Send, messageEvent, timestampOf
from chatroom.protocol import encode
from chatroom.store import keys
from chatroom.store.messages import Conversation


def conversationOf(request):
    """
    The L{Conversation} a history or ack request names.
    """
    if request.group is not None:
        return Conversation("g", request.group)
    return Conversation("u", request.peer)


class ChatHandler:
    """
    Direct messages, history and read positions.
    """

    def __init__(self, service):
        self.service = service

    @handles(Send)
    async def send(self, session, request):
        sender = session.user
        stored = await self.service.messages.sendDirect(sender, request.to, request.text, request.cid)
        ts = timestampOf(stored.msgId)
        if not stored.replayed:
            payload = encode(messageEvent(stored.msgId, sender, request.text, ts, to=request.to))
            recipients = (request.to,) if request.to == sender else (request.to, sender)
            self.service.deliverMessage(
                recipients, keys.directStream(sender, request.to), stored.msgId, payload, exclude=session
            )
            self.service.relay.direct(stored.nodes, request.to, sender, stored.msgId, payload)
        return {"msg_id": stored.msgId, "ts": ts, "status": stored.status}

    @handles(History)
    async def history(self, session, request):
        user = session.user
        conversation = conversationOf(request)
        entries, more = await self.service.messages.history(user, conversation, request.before, request.limit)
        messages = []
        for msgId, fields in entries:
            sender = fields.get("f")
            if conversation.kind == "g":
                event = messageEvent(msgId, sender, fields.get("t"), timestampOf(msgId), group=conversation.name)
            else:
                to = conversation.name if sender == user else user
                event = messageEvent(msgId, sender, fields.get("t"), timestampOf(msgId), to=to)
            del event["type"]
            messages.append(event)
        return {"messages": messages, "more": more}

    @handles(Ack)
    async def ack(self, session, request):
        await self.service.messages.ack(session.user, conversationOf(request), request.upto)
        return None
