# -*- test-case-name: tests.handlers.test_conversations -*-
"""
The conversation list (last message, unread count, read position, order,
pages) and the C{read} events of C{ack} and the read-receipts setting,
through the protocol on both stores; cross-node cases on two nodes.
"""

import pytest
import pytest_twisted

from tests.support.chatting import login, settle
from tests.support.twonodes import events, twoNodes
from tests.support.wire import WireError

pytestmark = pytest.mark.stores("memory", "redis")


def byName(conversations):
    return {c.get("with", c.get("group")): c for c in conversations}


async def unreadWith(client, peer):
    """
    The unread count C{conversations} gives C{client} for C{peer}.
    """
    return byName((await client.request("conversations"))["conversations"])[peer]["unread"]


@pytest_twisted.ensureDeferred
async def test_the_list_shows_last_unread_and_read_most_recent_first(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    zhang = await chat.user("张三")
    sent = [await bob.request("send", to="alice", text="第%d条 🍜" % i) for i in range(3)]
    await chat.wait(0.005)
    await alice.request("send", to="bob", text="我自己的 🙂")
    await chat.wait(0.005)
    await bob.request("group.send", group="lobby", text="大家好 👋")
    await chat.wait(0.005)
    last = await zhang.request("send", to="alice", text="你好 🐼")
    reply = await alice.request("conversations")
    assert reply["cursor"] is None
    assert [c.get("with", c.get("group")) for c in reply["conversations"]] == ["张三", "lobby", "bob"]
    found = byName(reply["conversations"])
    assert found["张三"] == {
        "with": "张三", "unread": 1, "read": None,
        "last": {"type": "message", "msg_id": last["msg_id"], "from": "张三", "to": "alice",
                 "text": "你好 🐼", "ts": last["ts"]},
    }
    # Her own message is the last of the conversation with bob, not unread.
    assert found["bob"]["unread"] == 3
    assert found["bob"]["last"]["from"] == "alice" and found["bob"]["last"]["to"] == "bob"
    assert found["lobby"]["unread"] == 1 and found["lobby"]["last"]["text"] == "大家好 👋"
    await alice.request("ack", upto=sent[1]["msg_id"], **{"with": "bob"})
    found = byName((await alice.request("conversations"))["conversations"])
    assert found["bob"]["unread"] == 1 and found["bob"]["read"] == sent[1]["msg_id"]
    # The sender's list shows the conversation too, nothing unread in it.
    found = byName((await bob.request("conversations"))["conversations"])
    assert found["alice"]["unread"] == 1
    assert found["lobby"]["unread"] == 0
    assert "张三" not in found


@pytest_twisted.ensureDeferred
async def test_a_first_message_puts_the_conversation_in_both_lists(chat):
    alice = await chat.user("alice")
    await chat.user("李四")
    await alice.request("send", to="李四", text="在吗？")
    found = byName((await alice.request("conversations"))["conversations"])
    assert found["李四"]["unread"] == 0 and found["李四"]["last"]["text"] == "在吗？"


@pytest_twisted.ensureDeferred
async def test_pages_follow_the_cursor(chat):
    alice = await chat.user("alice")
    names = ["用户%d" % i for i in range(5)]
    for name in names:
        peer = await chat.user(name)
        await peer.request("send", to="alice", text="😀 from " + name)
        await chat.wait(0.005)
    await alice.request("group.leave", group="lobby")
    seen, cursor = [], None
    while True:
        fields = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
        reply = await alice.request("conversations", **fields)
        assert len(reply["conversations"]) <= 2
        seen += [c["with"] for c in reply["conversations"]]
        cursor = reply["cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(names))
    # One page holding them all: no cursor.
    reply = await alice.request("conversations", limit=5)
    assert [c["with"] for c in reply["conversations"]] == list(reversed(names)) and reply["cursor"] is None


@pytest_twisted.ensureDeferred
async def test_bad_fields(chat):
    alice = await chat.user("alice")
    for fields in ({"limit": 0}, {"limit": 201}, {"limit": "5"}, {"cursor": "nonsense"}, {"cursor": "x-1|u|bob"}):
        with pytest.raises(WireError) as e:
            await alice.request("conversations", **fields)
        assert e.value.code == "bad_request"
    for fields in ({}, {"read_receipts": 1}, {"read_receipts": "no"}):
        with pytest.raises(WireError) as e:
            await alice.request("settings.set", **fields)
        assert e.value.code == "bad_request"


@pytest_twisted.ensureDeferred
async def test_unread_is_capped_at_1000(chat):
    alice = await chat.user("alice")
    await chat.user("bob")
    # Stored directly: the send rate limit would take a while.
    messages = chat.service.store.messages
    for i in range(1003):
        await messages.sendDirect("bob", "alice", "第%d条 📨" % i)
    found = byName((await alice.request("conversations"))["conversations"])
    assert found["bob"]["unread"] == 1000


@pytest_twisted.ensureDeferred
async def test_a_group_left_is_not_listed(chat):
    alice = await chat.user("alice")
    await alice.request("group.create", group="读书会")
    assert "读书会" in byName((await alice.request("conversations"))["conversations"])
    await alice.request("group.leave", group="读书会")
    found = byName((await alice.request("conversations"))["conversations"])
    assert "读书会" not in found and found["lobby"]["last"] is None


@pytest_twisted.ensureDeferred
async def test_ack_tells_the_other_devices_and_the_peer(chat):
    alice1 = await chat.user("alice")
    alice2 = await login(chat, "alice")
    bob = await chat.user("bob")
    sent = await bob.request("send", to="alice", text="读了吗 📖")
    await alice1.request("ack", upto=sent["msg_id"], **{"with": "bob"})
    assert await alice2.event(type="read") == {"type": "read", "by": "alice", "with": "bob", "upto": sent["msg_id"]}
    assert await bob.event(type="read") == {"type": "read", "by": "alice", "with": "alice", "upto": sent["msg_id"]}
    # An ack that moves nothing tells nobody.
    await alice2.request("ack", upto=sent["msg_id"], **{"with": "bob"})
    await settle(alice1)
    await settle(bob, 0)
    assert events(alice1, "read") == [] and events(bob, "read") == []
    # The unread count on the other device follows.
    found = byName((await alice2.request("conversations"))["conversations"])
    assert found["bob"]["unread"] == 0 and found["bob"]["read"] == sent["msg_id"]


@pytest_twisted.ensureDeferred
async def test_ack_past_the_newest_reports_the_newest(chat):
    alice1 = await chat.user("alice")
    alice2 = await login(chat, "alice")
    bob = await chat.user("bob")
    sent = await bob.request("send", to="alice", text="嗨")
    await alice1.request("ack", upto="99999999999999-0", **{"with": "bob"})
    assert (await alice2.event(type="read"))["upto"] == sent["msg_id"]


@pytest_twisted.ensureDeferred
async def test_read_receipts_off_tells_only_the_own_devices(chat):
    alice1 = await chat.user("alice")
    alice2 = await login(chat, "alice")
    bob = await chat.user("bob")
    first = await bob.request("send", to="alice", text="一")
    await alice1.request("ack", upto=first["msg_id"], **{"with": "bob"})
    await bob.event(type="read")
    await alice2.event(type="read")
    reply = await alice2.request("settings.set", read_receipts=False)
    assert set(reply) == {"type", "id"}
    second = await bob.request("send", to="alice", text="二")
    # alice1 had looked the setting up before: it follows the change.
    await alice1.request("ack", upto=second["msg_id"], **{"with": "bob"})
    assert (await alice2.event(type="read"))["upto"] == second["msg_id"]
    await settle(bob)
    assert events(bob, "read") == []
    # A new connection reads the stored setting.
    alice3 = await login(chat, "alice")
    third = await bob.request("send", to="alice", text="三")
    await alice3.request("ack", upto=third["msg_id"], **{"with": "bob"})
    await settle(bob)
    assert events(bob, "read") == []
    await alice3.request("settings.set", read_receipts=True)
    fourth = await bob.request("send", to="alice", text="四")
    await alice1.request("ack", upto=fourth["msg_id"], **{"with": "bob"})
    assert (await bob.event(type="read"))["upto"] == fourth["msg_id"]


@pytest_twisted.ensureDeferred
async def test_a_group_ack_tells_only_the_own_devices(chat):
    alice1 = await chat.user("alice")
    alice2 = await login(chat, "alice")
    bob = await chat.user("bob")
    sent = await bob.request("group.send", group="lobby", text="群消息 🎉")
    await alice1.request("ack", upto=sent["msg_id"], group="lobby")
    assert await alice2.event(type="read") == {"type": "read", "by": "alice", "group": "lobby", "upto": sent["msg_id"]}
    await settle(bob)
    assert events(bob, "read") == []


@pytest_twisted.ensureDeferred
async def test_read_events_cross_nodes(make_chat, store):
    first, second = await twoNodes(make_chat, store)
    alice1 = await first.user("alice")
    alice2 = await login(second, "alice")
    bob = await second.user("bob")
    sent = await bob.request("send", to="alice", text="跨节点 🌍")
    await alice1.request("ack", upto=sent["msg_id"], **{"with": "bob"})
    assert (await alice2.event(type="read"))["with"] == "bob"
    assert (await bob.event(type="read"))["with"] == "alice"
    # Turned off on the other node: the first node's cached setting follows.
    await alice2.request("settings.set", read_receipts=False)
    await settle(alice2)
    again = await bob.request("send", to="alice", text="再来 🔁")
    await alice1.request("ack", upto=again["msg_id"], **{"with": "bob"})
    assert (await alice2.event(type="read"))["upto"] == again["msg_id"]
    await settle(bob)
    assert events(bob, "read") == []


@pytest_twisted.ensureDeferred
async def test_unread_follows_new_messages_acks_and_retractions_between_calls(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")

    sent = [await bob.request("send", to="alice", text="第%d条 🐢" % i) for i in range(3)]
    assert await unreadWith(alice, "bob") == 3
    sent += [await bob.request("send", to="alice", text="又来%d 🐇" % i) for i in range(2)]
    await alice.request("send", to="bob", text="我在 👋")
    assert await unreadWith(alice, "bob") == 5
    await bob.request("retract", msg_id=sent[3]["msg_id"], **{"with": "alice"})
    assert await unreadWith(alice, "bob") == 4
    await alice.request("ack", upto=sent[1]["msg_id"], **{"with": "bob"})
    assert await unreadWith(alice, "bob") == 2
    await bob.request("send", to="alice", text="最后 🏁")
    assert await unreadWith(alice, "bob") == 3


@pytest_twisted.ensureDeferred
async def test_unread_where_the_reader_never_wrote_follows_messages_acks_retractions_and_a_reply(chat):
    # On Redis the count comes from the stream's counters while alice has
    # not written to bob, and from reading the entries once she has.
    alice = await chat.user("alice")
    bob = await chat.user("bob")

    sent = [await bob.request("send", to="alice", text="第%d条 🐢" % i) for i in range(3)]
    assert await unreadWith(alice, "bob") == 3
    sent += [await bob.request("send", to="alice", text="又来%d 🐇" % i) for i in range(2)]
    assert await unreadWith(alice, "bob") == 5
    await alice.request("ack", upto=sent[1]["msg_id"], **{"with": "bob"})
    assert await unreadWith(alice, "bob") == 3
    sent += [await bob.request("send", to="alice", text="再来%d 🦊" % i) for i in range(2)]
    assert await unreadWith(alice, "bob") == 5
    await bob.request("retract", msg_id=sent[4]["msg_id"], **{"with": "alice"})
    assert await unreadWith(alice, "bob") == 4
    # A retraction before the read position changes nothing.
    await bob.request("retract", msg_id=sent[0]["msg_id"], **{"with": "alice"})
    assert await unreadWith(alice, "bob") == 4
    sent.append(await bob.request("send", to="alice", text="新的 🌱"))
    assert await unreadWith(alice, "bob") == 5
    await alice.request("send", to="bob", text="我回来了 👋")
    assert await unreadWith(alice, "bob") == 5
    await bob.request("send", to="alice", text="好 👌")
    assert await unreadWith(alice, "bob") == 6
    await alice.request("send", to="bob", text="嗯")
    await alice.request("ack", upto=sent[-1]["msg_id"], **{"with": "bob"})
    assert await unreadWith(alice, "bob") == 1


@pytest_twisted.ensureDeferred
async def test_her_first_message_is_never_her_unread_whether_the_peer_was_online_or_not(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    await (await chat.client()).request("register", user="carol", password="secret")
    # bob is logged in here (his existence is known), carol is not.
    await alice.request("send", to="bob", text="在吗 🙂")
    await alice.request("send", to="carol", text="好久不见 🌙")
    await bob.request("send", to="alice", text="在 👍")
    carol = await chat.user("carol", register=False)
    await carol.request("send", to="alice", text="是啊 🌙")
    found = byName((await alice.request("conversations"))["conversations"])
    assert (found["bob"]["unread"], found["carol"]["unread"]) == (1, 1)
    found = byName((await carol.request("conversations"))["conversations"])
    assert found["alice"]["unread"] == 1


@pytest.mark.stores("redis")
@pytest_twisted.ensureDeferred
async def test_unread_after_trimming_counts_the_messages_kept(make_chat):
    chat = await make_chat(retention=100)
    alice = await chat.user("alice")
    await chat.user("bob")
    messages = chat.service.store.messages
    first = await messages.sendDirect("bob", "alice", "最早 📜")
    await alice.request("ack", upto=first.msgId, **{"with": "bob"})
    for i in range(350):
        await messages.sendDirect("bob", "alice", "第%d条 📨" % i)
    kept = int(chat.redis.command("XLEN", "{d:alice|bob}:stream")[1:].split(b"\r")[0])
    assert kept < 350
    found = byName((await alice.request("conversations"))["conversations"])
    assert found["bob"]["unread"] == kept
    for i in range(5):
        await messages.sendDirect("bob", "alice", "更多%d 📨" % i)
    kept = int(chat.redis.command("XLEN", "{d:alice|bob}:stream")[1:].split(b"\r")[0])
    found = byName((await alice.request("conversations"))["conversations"])
    assert found["bob"]["unread"] == kept


@pytest_twisted.ensureDeferred
async def test_a_refused_first_message_lists_no_conversation(chat):
    # On Redis the indexes name each other before the message is refused
    # (the stream is sealed): a conversation with no message is not listed.
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    await alice.request("block", user="bob")
    with pytest.raises(WireError) as e:
        await bob.request("send", to="alice", text="让我进来 🚪")
    assert e.value.code == "blocked"
    for client, limit in ((alice, 50), (bob, 50), (alice, 1), (bob, 1)):
        listed = (await client.request("conversations", limit=limit))["conversations"]
        assert [c.get("with", c.get("group")) for c in listed] == ["lobby"]
