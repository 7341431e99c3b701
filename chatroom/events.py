# -*- test-case-name: tests.test_messages -*-
"""
The events the server pushes on its own about messages, presence and
group membership, as the dicts that are encoded once for every recipient
(the 1.1 events of the conversation list, personal controls and groups are
built beside their requests).
"""

from chatroom.messages import timestampOf


def messageEvent(msgId, sender, text, ts, to=None, group=None, offline=False):
    """
    A C{message} event for a direct (C{to}) or group (C{group}) message; a
    retracted one (C{text} C{None}) has no C{text} and C{"retracted": true}.
    """
    event = {"type": "message", "msg_id": msgId, "from": sender}
    if group is None:
        event["to"] = to
    else:
        event["group"] = group
    if text is not None:
        event["text"] = text
    event["ts"] = ts
    if text is None:
        event["retracted"] = True
    if offline:
        event["offline"] = True
    return event


def entryEvent(user, conversation, msgId, fields, offline=False):
    """
    The C{message} event, as C{user} sees it, of a stored entry of
    C{conversation} (C{fields}: C{"f"} sender, C{"t"} text, or C{"r"} once
    retracted).
    """
    sender = fields.get("f")
    text = None if "r" in fields else fields.get("t")
    if conversation.kind == "g":
        return messageEvent(msgId, sender, text, timestampOf(msgId), group=conversation.name, offline=offline)
    to = conversation.name if sender == user else user
    return messageEvent(msgId, sender, text, timestampOf(msgId), to=to, offline=offline)


def presenceEvent(user, online):
    """
    A C{presence} event: C{user} came online or went offline.
    """
    return {"type": "presence", "user": user, "status": "online" if online else "offline"}


def groupEvent(group, user, joined):
    """
    A C{group} event: C{user} joined or left C{group}.
    """
    return {"type": "group", "group": group, "user": user, "event": "joined" if joined else "left"}
