"""
Tests for L{chatroom.client.activity} and the commands around it: typing
notes that go away by themselves, the user's own typing sent at most every
2.5 s, unread counts that drop when another device reads, read receipts,
retraction (C{/retract}), C{/receipts} and C{/inbox}; against a scripted
server on a L{StringTransport}.
"""

from chatroom.client.activity import TYPING_EVERY, TYPING_SHOWN
from chatroom.client.conversation import Conversation
from tests.client.test_console import loggedIn


def chatting(peer="张三"):
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/chat " + peer)
    [history] = wire.sent()
    wire.ok(history, messages=[], more=False)
    screen.take()
    return reactor, console, wire, screen


def test_a_typing_note_goes_away_by_itself_or_with_the_message():
    reactor, console, wire, screen = loggedIn()
    wire.push({"type": "typing", "from": "张三", "to": "bob"})
    assert console.activity.status() == "张三 is typing…"
    reactor.advance(TYPING_SHOWN - 1)
    wire.push({"type": "typing", "from": "张三", "to": "bob"})
    reactor.advance(2)
    assert console.activity.status() == "张三 is typing…"
    reactor.advance(TYPING_SHOWN)
    assert console.activity.status() == ""
    wire.push({"type": "typing", "from": "carol", "group": "大厅"})
    assert console.activity.status() == "carol is typing… in #大厅"
    wire.push({"type": "message", "msg_id": "5-0", "from": "carol", "group": "大厅", "text": "好了 ✅", "ts": 5})
    assert "is typing" not in console.activity.status()
    # Nothing about it reached the scrollback but the message.
    assert "typing" not in screen.take()


def test_typing_in_a_conversation_is_sent_at_most_every_few_seconds():
    reactor, console, wire, screen = chatting()
    console.activity.typed("你")
    [typing] = wire.sent()
    assert typing["type"] == "typing" and typing["to"] == "张三"
    wire.ok(typing)
    console.activity.typed("你好")
    assert wire.sent() == []
    reactor.advance(TYPING_EVERY)
    console.activity.typed("你好呀 🙂")
    assert [r["type"] for r in wire.sent()] == ["typing"]
    # Commands and empty lines are not typing.
    reactor.advance(TYPING_EVERY)
    console.activity.typed("/who")
    console.activity.typed("  ")
    assert wire.sent() == []


def test_typing_outside_a_conversation_is_not_sent():
    reactor, console, wire, screen = loggedIn()
    console.activity.typed("1")
    assert wire.sent() == []


def test_unread_drops_when_another_device_reads():
    reactor, console, wire, screen = loggedIn()
    for i in range(3):
        wire.push({"type": "message", "msg_id": "%d-0" % i, "from": "张三", "to": "bob", "text": "第%d条" % i, "ts": i})
    wire.push({"type": "message", "msg_id": "9-0", "from": "carol", "group": "大厅", "text": "hi", "ts": 9})
    assert console.activity.status() == "unread: 张三 3, #大厅 1"
    wire.push({"type": "read", "by": "bob", "with": "张三", "upto": "1-0"})
    assert console.activity.status() == "unread: 张三 1, #大厅 1"
    wire.push({"type": "read", "by": "bob", "group": "大厅", "upto": "9-0"})
    assert console.activity.status() == "unread: 张三 1"
    console.lineReceived("/chat 张三")
    assert console.activity.status() == ""


def test_a_read_receipt_for_the_last_message_sent():
    reactor, console, wire, screen = chatting()
    console.lineReceived("在吗？")
    [send] = wire.sent()
    wire.ok(send, msg_id="7-0", ts=7, status="delivered")
    screen.take()
    wire.push({"type": "read", "by": "张三", "with": "bob", "upto": "6-0"})
    assert "has read" not in screen.take()
    wire.push({"type": "read", "by": "张三", "with": "bob", "upto": "7-0"})
    assert screen.take().endswith("* 张三 has read your message")


def test_retract_the_last_message_or_a_given_one():
    reactor, console, wire, screen = chatting()
    console.lineReceived("/retract")
    assert "sent nothing" in screen.take() and wire.sent() == []
    console.lineReceived("发错了 🙈")
    [send] = wire.sent()
    wire.ok(send, msg_id="8-0", ts=8, status="delivered")
    console.lineReceived("/retract")
    [retract] = wire.sent()
    assert retract == {"type": "retract", "id": retract["id"], "msg_id": "8-0", "with": "张三"}
    wire.ok(retract)
    assert "* message retracted in 张三" in screen.take()
    console.lineReceived("/retract 3-0")
    [retract] = wire.sent()
    assert retract["msg_id"] == "3-0"
    wire.error(retract, "forbidden", "only its sender may retract a message")
    assert "(forbidden)" in screen.take()


def test_a_retract_event_is_told_and_retracted_messages_are_shown_so():
    reactor, console, wire, screen = loggedIn()
    wire.push({"type": "message", "msg_id": "1-0", "from": "张三", "to": "bob", "text": "秘密", "ts": 1})
    wire.push({"type": "retract", "msg_id": "1-0", "with": "张三", "by": "张三"})
    assert screen.take().splitlines()[-1].endswith("* 张三 retracted a message in 张三")
    assert console.activity.status() == ""
    console.lineReceived("/history 张三")
    [history] = wire.sent()
    wire.ok(history, more=False, messages=[
        {"msg_id": "1-0", "from": "张三", "to": "bob", "ts": 1, "retracted": True}])
    assert "<张三> (retracted)" in screen.take()


def test_receipts_command():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/receipts maybe")
    assert "usage" in screen.take() and wire.sent() == []
    console.lineReceived("/receipts off")
    [setting] = wire.sent()
    assert setting["type"] == "settings.set" and setting["read_receipts"] is False
    wire.ok(setting)
    assert "* read receipts off" in screen.take()


def test_inbox_lists_the_conversations():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/inbox")
    [request] = wire.sent()
    assert request["type"] == "conversations"
    wire.ok(request, cursor=None, conversations=[
        {"with": "张三", "unread": 2, "read": None,
         "last": {"type": "message", "msg_id": "2-0", "from": "张三", "to": "bob", "text": "你好 🐼", "ts": 2}},
        {"group": "大厅", "unread": 1000, "read": "1-0",
         "last": {"type": "message", "msg_id": "3-0", "from": "carol", "group": "大厅", "ts": 3, "retracted": True}},
        {"group": "lobby", "unread": 0, "read": None, "last": None},
    ])
    lines = screen.take().splitlines()
    assert lines[0] == "Conversations (most recent first):"
    assert lines[1].startswith("  张三") and "2 unread" in lines[1] and "<张三> 你好 🐼" in lines[1]
    assert "#大厅" in lines[2] and "1000+ unread" in lines[2] and "(retracted)" in lines[2]
    assert lines[3].split() == ["#lobby", "0", "unread"]


def test_status_is_per_conversation():
    reactor, console, wire, screen = chatting("carol")
    wire.push({"type": "message", "msg_id": "1-0", "from": "carol", "to": "bob", "text": "就在这", "ts": 1})
    assert console.activity.status() == ""
    assert console.activity.lastSent.get(Conversation(peer="carol")) is None
