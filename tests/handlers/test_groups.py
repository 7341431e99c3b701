"""
Groups, on the in-memory store and on a real Redis over loopback TCP:
membership requests, their errors and events, group messages and the group
backlog since joining.
"""

import time

import pytest
import pytest_twisted
from twisted.internet import defer

pytestmark = pytest.mark.stores("memory", "redis")

from tests.support.chatting import caughtUp, ids, login, logout, offline, receive, sendMany, settle
from tests.support.wire import WireError


async def expectError(client, code, kind, **fields):
    with pytest.raises(WireError) as e:
        await client.request(kind, **fields)
    assert e.value.code == code, (kind, fields, e.value.reply)
    return e.value.reply


@pytest_twisted.ensureDeferred
async def test_create_join_leave_list_members(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    assert (await alice.request("group.list"))["groups"] == ["lobby"]
    assert (await alice.request("group.create", group="读书会"))["group"] == "读书会"
    assert (await alice.request("group.list"))["groups"] == sorted(["lobby", "读书会"])
    members = (await alice.request("group.members", group="读书会"))["members"]
    assert members == [{"user": "alice", "online": True, "role": "owner"}]

    assert (await bob.request("group.join", group="读书会"))["group"] == "读书会"
    event = await alice.event(type="group")
    assert event == {"type": "group", "group": "读书会", "user": "bob", "event": "joined"}
    # Joining again changes nothing and tells nobody.
    await bob.request("group.join", group="读书会")
    await logout(chat, bob)
    members = (await alice.request("group.members", group="读书会"))["members"]
    assert members == [{"user": "alice", "online": True, "role": "owner"},
                       {"user": "bob", "online": False, "role": "member"}]

    bob = await login(chat, "bob")
    assert (await bob.request("group.list"))["groups"] == sorted(["lobby", "读书会"])
    assert (await bob.request("group.leave", group="读书会"))["group"] == "读书会"
    event = await alice.event(type="group", event="left")
    assert event == {"type": "group", "group": "读书会", "user": "bob", "event": "left"}
    assert (await bob.request("group.list"))["groups"] == ["lobby"]
    members = (await alice.request("group.members", group="读书会"))["members"]
    assert members == [{"user": "alice", "online": True, "role": "owner"}]
    # The one who joined or left gets only the ok, no event about itself.
    await settle(bob)
    assert [e for e in bob.events if e.get("type") == "group"] == []


@pytest_twisted.ensureDeferred
async def test_group_errors(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    await alice.request("group.create", group="私密")
    await expectError(bob, "group_exists", "group.create", group="私密")
    await expectError(bob, "group_exists", "group.create", group="lobby")
    for kind, extra in [
        ("group.join", {}), ("group.leave", {}), ("group.members", {}),
        ("group.send", {"text": "x"}), ("history", {}), ("ack", {"upto": "1-0"}),
    ]:
        await expectError(bob, "no_such_group", kind, group="没有", **extra)
    for kind, extra in [("group.leave", {}), ("group.send", {"text": "x"}), ("history", {}), ("ack", {"upto": "1-0"})]:
        await expectError(bob, "not_member", kind, group="私密", **extra)
    await expectError(bob, "bad_request", "group.create", group="has space")
    await expectError(bob, "bad_request", "group.create", group="a:b")
    # A failed request left nothing half-done.
    assert (await bob.request("group.list"))["groups"] == ["lobby"]
    anonymous = await chat.client()
    await expectError(anonymous, "not_logged_in", "group.create", group="x")
    await expectError(anonymous, "not_logged_in", "group.list")


@pytest_twisted.ensureDeferred
async def test_group_names_are_nfc_normalised(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    await alice.request("group.create", group="Cafe\u0301")
    await expectError(bob, "group_exists", "group.create", group="Caf\u00e9")
    await bob.request("group.join", group="Caf\u00e9")
    ok = await bob.request("group.send", group="Cafe\u0301", text="☕")
    event = await alice.event(type="message", group="Caf\u00e9")
    assert event["msg_id"] == ok["msg_id"]


@pytest_twisted.ensureDeferred
async def test_group_send_reaches_every_member_connection(chat):
    alice1 = await chat.user("alice")
    alice2 = await login(chat, "alice")
    bob = await chat.user("bob")
    carol = await chat.user("carol")
    await alice1.request("group.create", group="团队")
    await bob.request("group.join", group="团队")
    ok = await alice1.request("group.send", group="团队", text="开会 📅")
    for client in (alice2, bob):
        event = await client.event(type="message", group="团队")
        assert event == {
            "type": "message", "msg_id": ok["msg_id"], "from": "alice", "group": "团队",
            "text": "开会 📅", "ts": ok["ts"],
        }
    await settle(alice1)
    await settle(carol, 0)
    assert offline(alice1) == [] and offline(carol) == []


@pytest_twisted.ensureDeferred
async def test_group_backlog_since_join(chat):
    """
    A member's missed group messages start at its joining; after leaving
    and joining again, only messages after the new join come.
    """
    alice = await chat.user("alice")
    await alice.request("group.create", group="历史")
    before = await sendMany(alice, 3, kind="group.send", group="历史", text="入群前 {i}")
    bob = await chat.user("bob")
    await bob.request("group.join", group="历史")
    await logout(chat, bob)
    after = await sendMany(alice, 3, kind="group.send", group="历史", text="入群后 {i}")
    bob = await login(chat, "bob")
    await caughtUp(chat, bob)
    assert ids(offline(bob)) == ids(after)
    assert not set(ids(before)) & set(ids(offline(bob)))

    await bob.request("group.leave", group="历史")
    await logout(chat, bob)
    away = await sendMany(alice, 3, kind="group.send", group="历史", text="离开时 {i}")
    bob = await login(chat, "bob")
    await caughtUp(chat, bob)
    assert offline(bob) == [], "a former member gets nothing"
    await bob.request("group.join", group="历史")
    await logout(chat, bob)
    rejoined = await sendMany(alice, 2, kind="group.send", group="历史", text="回来后 {i}")
    bob = await login(chat, "bob")
    await caughtUp(chat, bob)
    assert ids(offline(bob)) == ids(rejoined)
    assert not set(ids(away)) & set(ids(offline(bob)))


@pytest_twisted.ensureDeferred
async def test_new_user_backlog_starts_at_registration(chat):
    alice = await chat.user("alice")
    await alice.request("group.send", group="lobby", text="before bob")
    bob = await chat.user("bob")
    await logout(chat, bob)
    ok = await alice.request("group.send", group="lobby", text="after bob")
    bob = await login(chat, "bob")
    await caughtUp(chat, bob)
    assert ids(offline(bob)) == [ok["msg_id"]]


@pytest_twisted.ensureDeferred
async def test_left_member_gets_no_live_messages(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    bob2 = await login(chat, "bob")
    await alice.request("group.create", group="临时")
    await bob.request("group.join", group="临时")
    await alice.request("group.send", group="临时", text="in")
    await receive(bob2, 1, group="临时")
    await bob.request("group.leave", group="临时")
    await alice.request("group.send", group="临时", text="out")
    await settle(bob)
    await settle(bob2, 0)
    assert [e["text"] for e in offline(bob) + offline(bob2)] == ["in", "in"]


@pytest_twisted.ensureDeferred
async def test_thousand_member_group_gets_one_message_once_per_connection(chat):
    """
    1,000 users (a few with two connections) in the lobby: one group
    message reaches each connection exactly once.
    """
    started = time.monotonic()
    names = ["成员%04d" % i for i in range(1000)]
    # Accounts straight through the store, with one hash (the fixture's
    # hasher is at cost 1): this test is about delivery, not registration.
    passwordHash = await chat.hasher.hash("pw")
    await defer.gatherResults(
        [defer.ensureDeferred(chat.service.store.accounts.create(n, passwordHash, n)) for n in names]
    )
    clients = []
    # In waves: connecting 1,000 at once overflows the listen backlog (50),
    # and the kernel's SYN-ACK retries then stall the test for seconds.
    for start in range(0, len(names), 50):
        wave = names[start:start + 50]
        connected = await defer.gatherResults([defer.ensureDeferred(chat.client()) for _ in wave])
        await defer.DeferredList(
            [c.request("login", user=n, password="pw") for c, n in zip(connected, wave)], fireOnOneErrback=True
        )
        clients.extend(connected)
    extra = await defer.gatherResults(
        [defer.ensureDeferred(chat.user(n, password="pw", register=False)) for n in names[:20]]
    )
    everyone = clients + extra
    sender = clients[0]
    ok = await sender.request("group.send", group="lobby", text="全体 📢 " * 10)
    receivers = everyone[1:]
    await chat.until(lambda: all(offline(c) for c in receivers), timeout=20)
    await settle(sender, 0.3)
    for c in receivers:
        assert ids(offline(c)) == [ok["msg_id"]]
    assert offline(sender) == []
    page = await sender.request("group.members", group="lobby", limit=1000)
    members = page["members"]
    assert len(members) == 1000 and all(m["online"] for m in members) and page["cursor"] is None
    assert page["total"] == 1000
    assert time.monotonic() - started < 30
