"""
Tests for L{chatroom.client.inbox} and L{chatroom.client.conversation}:
repeats dropped, missed messages grouped and acknowledged once shown.
"""

import pytest
from twisted.internet.defer import succeed
from twisted.internet.task import Clock

from chatroom.client.conversation import Conversation
from chatroom.client.inbox import ACK_DELAY, QUIET, Inbox
from chatroom.errors import BadRequest


class View:
    def __init__(self):
        self.shown = []

    def showMessage(self, conversation, event):
        self.shown.append(("live", conversation.label, event["msg_id"]))

    def showMissed(self, batches):
        self.shown.append(("missed", [(c.label, [e["msg_id"] for e in events]) for c, events in batches]))


def makeInbox():
    clock, view, acks = Clock(), View(), []

    def sendAck(conversation, msgId):
        acks.append((conversation.label, msgId))
        return succeed(None)

    inbox = Inbox(clock, view, sendAck)
    inbox.reset("me")
    return clock, view, acks, inbox


def direct(msgId, sender="alice", to="me", offline=False):
    event = {"type": "message", "msg_id": msgId, "from": sender, "to": to, "text": "t", "ts": 1}
    if offline:
        event["offline"] = True
    return event


def group(msgId, name="lobby", sender="bob", offline=False):
    event = {"type": "message", "msg_id": msgId, "from": sender, "group": name, "text": "t", "ts": 1}
    if offline:
        event["offline"] = True
    return event


def test_conversation_parse():
    assert Conversation.parse("#lobby") == Conversation(group="lobby")
    assert Conversation.parse("小明") == Conversation(peer="小明")
    assert Conversation.parse("#大厅").label == "#大厅"
    assert Conversation(peer="a").fields() == {"with": "a"}
    assert Conversation(group="g").fields() == {"group": "g"}
    with pytest.raises(BadRequest):
        Conversation.parse("two words")
    with pytest.raises(BadRequest):
        Conversation.parse("#")


def test_conversation_of_message():
    assert Conversation.ofMessage(direct("1-1"), "me") == Conversation(peer="alice")
    # Sent by me from another device: the conversation is with the recipient.
    assert Conversation.ofMessage(direct("1-1", sender="me", to="bob"), "me") == Conversation(peer="bob")
    assert Conversation.ofMessage(group("1-1"), "me") == Conversation(group="lobby")


def test_live_message_shown_then_acknowledged():
    clock, view, acks, inbox = makeInbox()
    inbox.received(direct("1-1"))
    inbox.received(direct("1-2"))
    assert view.shown == [("live", "alice", "1-1"), ("live", "alice", "1-2")]
    assert acks == []
    clock.advance(ACK_DELAY)
    # One ack per conversation, up to the last shown.
    assert acks == [("alice", "1-2")]


def test_repeat_is_dropped_but_acknowledged():
    clock, view, acks, inbox = makeInbox()
    inbox.received(direct("1-1"))
    clock.advance(ACK_DELAY)
    inbox.received(direct("1-1", offline=True))
    clock.advance(QUIET + ACK_DELAY)
    assert view.shown == [("live", "alice", "1-1")]
    assert acks == [("alice", "1-1"), ("alice", "1-1")]


def test_same_msg_id_in_another_conversation_is_not_a_repeat():
    clock, view, acks, inbox = makeInbox()
    inbox.received(direct("1-1"))
    inbox.received(group("1-1"))
    assert len(view.shown) == 2


def test_missed_messages_grouped_after_quiet_spell():
    clock, view, acks, inbox = makeInbox()
    inbox.received(direct("1-1", offline=True))
    inbox.received(group("2-1", offline=True))
    clock.advance(QUIET / 2)
    inbox.received(direct("1-2", offline=True))
    clock.advance(QUIET / 2)
    # The burst is still going: nothing shown, nothing acknowledged.
    assert view.shown == [] and acks == []
    clock.advance(QUIET)
    assert view.shown == [("missed", [("alice", ["1-1", "1-2"]), ("#lobby", ["2-1"])])]
    clock.advance(ACK_DELAY)
    assert sorted(acks) == [("#lobby", "2-1"), ("alice", "1-2")]
    assert [c.label for c, _ in inbox.lastMissed] == ["alice", "#lobby"]


def test_live_message_during_the_backlog_waits_for_it():
    clock, view, acks, inbox = makeInbox()
    inbox.received(direct("1-1", offline=True))
    inbox.received(group("5-1"))
    inbox.received(direct("1-2", offline=True))
    assert view.shown == []
    clock.advance(QUIET)
    assert view.shown == [("missed", [("alice", ["1-1", "1-2"])]), ("live", "#lobby", "5-1")]
    clock.advance(ACK_DELAY)
    assert sorted(acks) == [("#lobby", "5-1"), ("alice", "1-2")]


def test_nothing_acknowledged_before_shown():
    clock, view, acks, inbox = makeInbox()
    inbox.received(direct("1-1", offline=True))
    inbox.flushAcks()
    assert acks == []
    inbox.stop()
    clock.advance(10)
    assert view.shown == [] and acks == []


def test_reset_forgets_seen_messages():
    clock, view, acks, inbox = makeInbox()
    inbox.received(direct("1-1"))
    inbox.reset("other")
    inbox.received(direct("1-1"))
    assert len(view.shown) == 2


def test_message_without_msg_id_is_ignored():
    clock, view, acks, inbox = makeInbox()
    inbox.received({"type": "message", "from": "alice", "to": "me", "text": "x"})
    assert view.shown == []
