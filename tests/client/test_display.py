"""
Tests for L{chatroom.client.display}.
"""

import time

from chatroom.client import display
from chatroom.client.conversation import Conversation

NOW = time.mktime((2024, 5, 1, 12, 0, 0, 0, 0, -1))
TODAY = int(time.mktime((2024, 5, 1, 9, 5, 0, 0, 0, -1)) * 1000)
EARLIER = int(time.mktime((2024, 4, 30, 23, 59, 0, 0, 0, -1)) * 1000)


def test_stamp():
    assert display.stamp(TODAY, NOW) == "09:05"
    assert display.stamp(EARLIER, NOW) == "2024-04-30 23:59"
    assert display.stamp(None, NOW) == "--:--"


def test_direct_and_group_messages():
    event = {"from": "小明", "text": "你好", "ts": TODAY}
    assert display.message(Conversation(peer="小明"), event, "me", NOW) == "[09:05] <小明> 你好"
    assert display.message(Conversation(group="大厅"), event, "me", NOW) == "[09:05] #大厅 <小明> 你好"
    mine = {"from": "me", "text": "hi", "ts": TODAY}
    assert display.message(Conversation(peer="bob"), mine, "me", NOW) == "[09:05] <me → bob> hi"


def test_multiline_messages_are_indented():
    event = {"from": "a", "text": "one\ntwo", "ts": TODAY}
    assert display.message(Conversation(peer="a"), event, None, NOW) == "[09:05] <a> one\n            two"


def test_control_characters_are_neutralised():
    event = {"from": "evil\x1b", "text": "\x1b[2Jgone\x07\ttab", "ts": TODAY}
    line = display.message(Conversation(peer="evil"), event, None, NOW)
    assert "\x1b" not in line and "\x07" not in line
    assert "\ufffd[2Jgone\ufffd\ttab" in line


def test_wide_characters_are_padded_by_columns():
    assert display.width("小明") == 4
    assert display.pad("小明", 6) == "小明  "
    rows = display.users([{"user": "小明", "name": "Xiao Ming"}, {"user": "bob", "name": "bob"}])
    assert rows == ["小明  Xiao Ming", "bob"]


def test_missed_summary():
    batches = [
        (
            Conversation(peer="alice"),
            [{"from": "alice", "text": "1", "ts": TODAY}, {"from": "alice", "text": "2", "ts": TODAY}],
        ),
        (Conversation(group="lobby"), [{"from": "bob", "text": "3", "ts": TODAY}]),
    ]
    assert display.missed(batches, "me", NOW) == [
        "=== 3 missed messages in 2 conversations ===",
        "--- alice (2 unread) ---",
        "[09:05] <alice> 1",
        "[09:05] <alice> 2",
        "--- #lobby (1 unread) ---",
        "[09:05] #lobby <bob> 3",
        "=== end of missed messages ===",
    ]


def test_presence_and_group_change():
    assert display.presence({"user": "a", "status": "online"}, NOW) == "[12:00] * a is online"
    assert display.presence({"user": "a", "status": "offline"}, NOW) == "[12:00] * a is offline"
    assert display.groupChange({"user": "a", "group": "g", "event": "left"}, NOW) == "[12:00] * a left #g"
