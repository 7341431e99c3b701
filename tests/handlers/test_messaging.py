"""
Direct messages over real loopback TCP and a real Redis: delivered or
stored, copies to every device, text round trips, and idempotent sends.
"""

import pytest
import pytest_twisted

pytestmark = pytest.mark.stores("memory", "redis")

from tests.support.chatting import ids, login, logout, offline, receive, settle
from tests.support.wire import WireError


@pytest_twisted.ensureDeferred
async def test_send_to_online_user_is_delivered(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    ok = await alice.request("send", to="bob", text="你好 👋")
    assert ok["status"] == "delivered"
    event = await bob.event(type="message")
    assert event == {
        "type": "message", "msg_id": ok["msg_id"], "from": "alice", "to": "bob",
        "text": "你好 👋", "ts": ok["ts"],
    }


@pytest_twisted.ensureDeferred
async def test_send_to_offline_user_is_stored_and_pushed_at_login(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    await logout(chat, bob)
    ok = await alice.request("send", to="bob", text="离线 📦")
    assert ok["status"] == "stored"
    bob = await login(chat, "bob")
    event = await bob.event(type="message")
    assert event["msg_id"] == ok["msg_id"]
    assert event["offline"] is True
    assert event["text"] == "离线 📦"
    assert event["ts"] == ok["ts"]


@pytest_twisted.ensureDeferred
async def test_send_to_unknown_user(chat):
    alice = await chat.user("alice")
    with pytest.raises(WireError) as e:
        await alice.request("send", to="nobody", text="hi")
    assert e.value.code == "no_such_user"
    # Nothing was stored for the name, and the connection still works.
    with pytest.raises(WireError) as e:
        await alice.request("history", **{"with": "nobody"})
    assert e.value.code == "no_such_user"
    await alice.request("ping")


@pytest_twisted.ensureDeferred
async def test_copies_to_every_device(chat):
    """
    The recipient's every connection gets the message, the sender's other
    connections a copy, and the sending connection only the ok.
    """
    alice1 = await chat.user("alice")
    alice2 = await login(chat, "alice")
    bob1 = await chat.user("bob")
    bob2 = await login(chat, "bob")
    bob3 = await login(chat, "bob")
    ok = await alice1.request("send", to="bob", text="多设备 📱💻")
    assert ok["status"] == "delivered"
    for client in (alice2, bob1, bob2, bob3):
        event = await client.event(type="message")
        assert event["msg_id"] == ok["msg_id"]
        assert event["from"] == "alice" and event["to"] == "bob"
        assert "offline" not in event
    await settle(alice1)
    assert offline(alice1) == []
    for client in (alice2, bob1, bob2, bob3):
        await settle(client, 0)
        assert offline(client) == []


@pytest_twisted.ensureDeferred
async def test_ts_is_the_same_in_ok_and_event(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    oks = [await alice.request("send", to="bob", text="t%d" % i) for i in range(5)]
    events = await receive(bob, 5)
    assert [(e["msg_id"], e["ts"]) for e in events] == [(o["msg_id"], o["ts"]) for o in oks]
    for ok in oks:
        assert isinstance(ok["ts"], int)


@pytest.mark.parametrize(
    "text",
    [
        "中文消息，带标点。",
        "emoji 😀👨‍👩‍👧‍👦🏳️‍🌈 and \u0000 NUL, \"quotes\", \\backslash\\, \n newline",
        "长" * 8192,
        "😀" * 8192,
    ],
    ids=["chinese", "emoji-and-controls", "8192-chinese", "8192-emoji"],
)
@pytest_twisted.ensureDeferred
async def test_text_round_trip(chat, text):
    """
    Text comes back unchanged live, offline and in history, up to 8,192
    characters (an emoji is one character, four UTF-8 bytes).
    """
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    ok = await alice.request("send", to="bob", text=text)
    assert (await bob.event(type="message"))["text"] == text
    await logout(chat, bob)
    bob = await login(chat, "bob")
    event = await bob.event(type="message", offline=True)
    assert event["text"] == text and event["msg_id"] == ok["msg_id"]
    page = await bob.request("history", **{"with": "alice"})
    assert [m["text"] for m in page["messages"]] == [text]
    gok = await alice.request("group.send", group="lobby", text=text)
    event = await bob.event(type="message", group="lobby")
    assert event["text"] == text and event["msg_id"] == gok["msg_id"]


@pytest_twisted.ensureDeferred
async def test_text_over_8192_characters_is_refused(chat):
    alice = await chat.user("alice")
    await chat.user("bob")
    with pytest.raises(WireError) as e:
        await alice.request("send", to="bob", text="长" * 8193)
    assert e.value.code == "bad_request"


@pytest_twisted.ensureDeferred
async def test_cid_replay_online(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    first = await alice.request("send", to="bob", text="一次 1️⃣", cid="c-1")
    again = await alice.request("send", to="bob", text="一次 1️⃣", cid="c-1")
    assert again["msg_id"] == first["msg_id"]
    assert again["ts"] == first["ts"]
    assert again["status"] == first["status"] == "delivered"
    await settle(bob)
    assert ids(offline(bob)) == [first["msg_id"]]
    page = await bob.request("history", **{"with": "alice"})
    assert len(page["messages"]) == 1


@pytest_twisted.ensureDeferred
async def test_cid_replay_offline(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    await logout(chat, bob)
    first = await alice.request("send", to="bob", text="stored 💾", cid=42)
    again = await alice.request("send", to="bob", text="stored 💾", cid=42)
    assert again["msg_id"] == first["msg_id"] and again["status"] == "stored"
    # A string cid "42" is a different key from the integer 42.
    other = await alice.request("send", to="bob", text="stored 💾", cid="42")
    assert other["msg_id"] != first["msg_id"]
    bob = await login(chat, "bob")
    await receive(bob, 2)
    await settle(bob)
    assert ids(offline(bob)) == [first["msg_id"], other["msg_id"]]


@pytest_twisted.ensureDeferred
async def test_cid_replay_group(chat):
    alice = await chat.user("alice")
    alice2 = await login(chat, "alice")
    bob = await chat.user("bob")
    first = await alice.request("group.send", group="lobby", text="群 👥", cid="g-1")
    again = await alice.request("group.send", group="lobby", text="群 👥", cid="g-1")
    assert again == dict(first, id=again["id"])
    await settle(bob)
    await settle(alice2, 0)
    assert ids(offline(bob)) == [first["msg_id"]]
    assert ids(offline(alice2)) == [first["msg_id"]]
    page = await bob.request("history", group="lobby")
    assert ids(page["messages"]) == [first["msg_id"]]


@pytest_twisted.ensureDeferred
async def test_cid_replay_after_reconnect(chat):
    """
    A client that lost the ok re-sends from a new connection: same msg_id,
    nothing delivered again.
    """
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    first = await alice.request("send", to="bob", text="retry 🔁", cid="r")
    await logout(chat, alice)
    alice = await login(chat, "alice")
    again = await alice.request("send", to="bob", text="retry 🔁", cid="r")
    assert again["msg_id"] == first["msg_id"]
    await settle(bob)
    assert ids(offline(bob)) == [first["msg_id"]]


@pytest_twisted.ensureDeferred
async def test_same_cid_by_different_users(chat):
    alice = await chat.user("alice")
    carol = await chat.user("carol")
    bob = await chat.user("bob")
    a = await alice.request("send", to="bob", text="from alice", cid="same")
    c = await carol.request("send", to="bob", text="from carol", cid="same")
    events = await receive(bob, 2)
    assert sorted((e["from"], e["msg_id"]) for e in events) == sorted(
        [("alice", a["msg_id"]), ("carol", c["msg_id"])]
    )
    ga = await alice.request("group.send", group="lobby", text="g alice", cid="same-g")
    gc = await carol.request("group.send", group="lobby", text="g carol", cid="same-g")
    assert ga["msg_id"] != gc["msg_id"]
    await receive(bob, 4)


@pytest_twisted.ensureDeferred
async def test_cid_of_a_send_reused_for_a_group_send(chat):
    """
    A msg_id is always a msg_id the server gave, even when a client reuses
    one cid for a direct and a group message.
    """
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    carol = await chat.user("carol")
    direct = await alice.request("send", to="bob", text="d", cid="x")
    group = await alice.request("group.send", group="lobby", text="g 群", cid="x")
    other = await alice.request("send", to="carol", text="c", cid="x")
    for ok in (direct, group, other):
        ms, sep, seq = ok["msg_id"].partition("-")
        assert sep and ms.isdigit() and seq.isdigit(), ok
    # Each is a message of its own conversation, delivered to its readers.
    page = await bob.request("history", group="lobby")
    assert ids(page["messages"]) == [group["msg_id"]]
    assert (await carol.event(type="message", to="carol"))["msg_id"] == other["msg_id"]
    assert (await bob.event(type="message", group="lobby"))["msg_id"] == group["msg_id"]


@pytest_twisted.ensureDeferred
async def test_send_to_self(chat):
    """
    A note to oneself reaches one's other devices, and is never pushed
    back as a missed message (it is from the user itself).
    """
    alice = await chat.user("alice")
    alice2 = await login(chat, "alice")
    ok = await alice.request("send", to="alice", text="备忘 📝")
    event = await alice2.event(type="message")
    assert event["msg_id"] == ok["msg_id"]
    await logout(chat, alice, alice2)
    alice = await login(chat, "alice")
    await settle(alice)
    assert offline(alice) == []


@pytest_twisted.ensureDeferred
async def test_live_messages_to_a_reader_that_pauses_arrive_whole_and_in_order(chat):
    """
    Live messages are written straight to the socket while it takes them and
    buffered once it does not: a client that stops reading for a while gets
    every frame whole and in order when it reads again.
    """
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    bob.transport.pauseProducing()
    text = "长消息🙂" * 1500
    sent = []
    for i in range(25):  # within the default send rate
        sent.append((await alice.request("send", to="bob", text="%d %s" % (i, text)))["msg_id"])
    bob.transport.resumeProducing()
    got = await receive(bob, len(sent))
    assert [e["msg_id"] for e in got] == sent
    assert all(e["text"] == "%d %s" % (i, text) for i, e in enumerate(got))


def _scriptCalls(redis):
    stats = redis.command("INFO", "commandstats").decode()
    for line in stats.splitlines():
        if line.startswith("cmdstat_evalsha:") or line.startswith("cmdstat_eval:"):
            yield int(line.split("calls=")[1].split(",")[0])


@pytest.mark.stores("redis")
@pytest_twisted.ensureDeferred
async def test_a_first_message_to_a_peer_logged_in_here_runs_no_script(chat):
    # The peer's session says it exists: three plain commands, written at
    # once, instead of introduce.lua and then the message.
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    await settle(bob)
    before = sum(_scriptCalls(chat.redis))
    sent = await alice.request("send", to="bob", text="第一条 🚀")
    assert sum(_scriptCalls(chat.redis)) == before
    assert (await bob.event(type="message"))["msg_id"] == sent["msg_id"]
    listed = {c["with"] for c in (await bob.request("conversations"))["conversations"] if "with" in c}
    assert listed == {"alice"}
    listed = {c["with"] for c in (await alice.request("conversations"))["conversations"] if "with" in c}
    assert listed == {"bob"}
    # Pushed to bob when he comes back.
    await logout(chat, bob)
    bob = await login(chat, "bob")
    event = await bob.event(type="message")
    assert (event["msg_id"], event["offline"]) == (sent["msg_id"], True)
