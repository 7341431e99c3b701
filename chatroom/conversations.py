# -*- test-case-name: tests.handlers.test_conversations -*-
"""
The requests of protocol 1.1 about a user's conversations (the list, read
state, typing, retraction, the read-receipts setting) and their events.
"""

from chatroom.errors import BadRequest
from chatroom.messages import _limit, cursor, field, msgId, name, optional, request

CONVERSATIONS_LIMIT = (50, 200)


def boolean(field, value):
    """
    Validate a JSON boolean (not 0 or 1).
    """
    if type(value) is not bool:
        raise BadRequest("field '%s' must be true or false" % field)
    return value


def _exactlyOne(request, first, second):
    if (getattr(request, "peer") is None) == (request.group is None):
        raise BadRequest("give exactly one of the fields '%s' and '%s'" % (first, second))


@request("conversations")
class Conversations:
    limit = field(_limit(*CONVERSATIONS_LIMIT), optional=True)
    cursor = field(optional(cursor), optional=True)


@request("typing")
class Typing:
    peer = field(optional(name), key="to", optional=True)
    group = field(optional(name), optional=True)

    def validate(self):
        _exactlyOne(self, "to", "group")


@request("retract")
class Retract:
    msgId = field(msgId, key="msg_id")
    peer = field(optional(name), key="with", optional=True)
    group = field(optional(name), optional=True)

    def validate(self):
        _exactlyOne(self, "with", "group")


@request("settings.set")
class SettingsSet:
    readReceipts = field(optional(boolean), key="read_receipts", optional=True)

    def validate(self):
        if self.readReceipts is None:
            raise BadRequest("give a setting: 'read_receipts'")


def _about(event, conversation, peerKey):
    # A direct conversation is named by the peer as the receiver sees it.
    if conversation.kind == "g":
        event["group"] = conversation.name
    else:
        event[peerKey] = conversation.name
    return event


def readEvent(by, conversation, upto):
    """
    A C{read} event: C{by} read C{conversation} (as its receiver names
    it) up to C{upto}.
    """
    return _about({"type": "read", "by": by}, conversation, "with") | {"upto": upto}


def typingEvent(sender, conversation):
    """
    A C{typing} event: C{sender} is typing in C{conversation} (C{to}: the
    receiver, or the group).
    """
    return _about({"type": "typing", "from": sender}, conversation, "to")


def retractEvent(msgId, conversation, by):
    """
    A C{retract} event: C{by} retracted C{msgId} of C{conversation} (as its
    receiver names it).
    """
    return _about({"type": "retract", "msg_id": msgId}, conversation, "with") | {"by": by}
