# -*- test-case-name: tests.handlers.test_typing -*-
"""
C{typing}: to the other party's connections (a group's other members
online), repeats within 2 seconds dropped, nothing stored; across nodes;
through the protocol on both stores.
"""

import pytest
import pytest_twisted

from tests.support.chatting import login, settle
from tests.support.twonodes import events, twoNodes
from tests.support.wire import WireError

pytestmark = pytest.mark.stores("memory", "redis")


@pytest_twisted.ensureDeferred
async def test_typing_to_a_user_reaches_all_its_devices_once_per_two_seconds(chat):
    alice1 = await chat.user("alice")
    alice2 = await login(chat, "alice")
    zhang1 = await chat.user("张三")
    zhang2 = await login(chat, "张三")
    assert set(await alice1.request("typing", to="张三")) == {"type", "id"}
    for client in (zhang1, zhang2):
        assert await client.event(type="typing") == {"type": "typing", "from": "alice", "to": "张三"}
    # A repeat within 2 s is answered and dropped, whichever device sends it.
    await alice1.request("typing", to="张三")
    await alice2.request("typing", to="张三")
    await settle(zhang1)
    await settle(zhang2, 0)
    await settle(alice2, 0)
    assert events(zhang1, "typing") == [] and events(zhang2, "typing") == []
    assert events(alice2, "typing") == []
    await chat.wait(2.1)
    await alice2.request("typing", to="张三")
    assert (await zhang1.event(type="typing"))["from"] == "alice"


@pytest_twisted.ensureDeferred
async def test_typing_in_a_group_reaches_the_other_members(chat):
    alice1 = await chat.user("alice")
    alice2 = await login(chat, "alice")
    bob = await chat.user("bob")
    carol = await chat.user("carol")
    await alice1.request("group.create", group="读书会")
    await bob.request("group.join", group="读书会")
    await alice1.request("typing", group="读书会")
    assert await bob.event(type="typing") == {"type": "typing", "from": "alice", "group": "读书会"}
    await settle(alice2)
    await settle(carol, 0)
    assert events(alice2, "typing") == [] and events(carol, "typing") == []


@pytest_twisted.ensureDeferred
async def test_typing_errors(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    await bob.request("group.create", group="秘密")
    cases = [
        ({"to": "nobody"}, "no_such_user"),
        ({"group": "nothing"}, "no_such_group"),
        ({"group": "秘密"}, "not_member"),
        ({"to": "bob", "group": "lobby"}, "bad_request"),
        ({}, "bad_request"),
        ({"to": "a b"}, "bad_request"),
    ]
    for fields, code in cases:
        with pytest.raises(WireError) as e:
            await alice.request("typing", **fields)
        assert e.value.code == code, fields
    await settle(bob)
    assert events(bob, "typing") == []


@pytest_twisted.ensureDeferred
async def test_no_typing_in_groups_over_the_presence_limit(make_chat):
    chat = await make_chat(presenceMaxGroup=2)
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    await chat.user("carol")
    await alice.request("typing", group="lobby")
    await alice.request("typing", to="bob")
    assert (await bob.event(type="typing")) == {"type": "typing", "from": "alice", "to": "bob"}
    await settle(bob)
    assert events(bob, "typing") == []


@pytest_twisted.ensureDeferred
async def test_typing_stores_nothing(make_chat, store):
    # No heartbeat writes during the test (one every nodeTimeout/3 s).
    chat = await make_chat(nodeTimeout=600)
    alice = await chat.user("alice")
    await chat.user("bob")
    await alice.request("group.create", group="读书会")
    await alice.request("send", to="bob", text="hi")
    if store == "redis":
        link = chat.service.store.link
        before = sorted(await link.execute("KEYS", "*"))
        dirty = int((await link.execute("INFO", "persistence")).split("rdb_changes_since_last_save:")[1].split()[0])
    else:
        before = repr(vars(chat.store.data))
    await alice.request("typing", to="bob")
    await alice.request("typing", group="读书会")
    if store == "redis":
        assert sorted(await link.execute("KEYS", "*")) == before
        after = int((await link.execute("INFO", "persistence")).split("rdb_changes_since_last_save:")[1].split()[0])
        assert after == dirty
    else:
        assert repr(vars(chat.store.data)) == before


@pytest_twisted.ensureDeferred
async def test_typing_crosses_nodes(make_chat, store):
    first, second = await twoNodes(make_chat, store)
    alice = await first.user("alice")
    bob = await second.user("bob")
    bob2 = await login(first, "bob")
    await alice.request("group.create", group="跨节点")
    await bob.request("group.join", group="跨节点")
    await alice.request("typing", to="bob")
    assert (await bob.event(type="typing")) == {"type": "typing", "from": "alice", "to": "bob"}
    assert (await bob2.event(type="typing"))["from"] == "alice"
    await alice.request("typing", group="跨节点")
    assert (await bob.event(type="typing")) == {"type": "typing", "from": "alice", "group": "跨节点"}
    await bob.request("typing", group="跨节点")
    assert (await alice.event(type="typing")) == {"type": "typing", "from": "bob", "group": "跨节点"}


@pytest_twisted.ensureDeferred
async def test_typing_from_two_devices_on_two_nodes_reaches_each_connection_once(make_chat, store):
    # Each node drops the repeats of its own requests; the node that writes
    # the event to bob's connections drops the repeat the other node sent.
    first, second = await twoNodes(make_chat, store)
    alice1 = await first.user("alice")
    alice2 = await login(second, "alice")
    bob = await first.user("bob")
    bob2 = await login(second, "bob")
    await alice1.request("group.create", group="两台设备")
    await bob.request("group.join", group="两台设备")
    await settle(bob)
    for device in (alice1, alice2):
        await device.request("typing", to="bob")
        await device.request("typing", group="两台设备")
    for client in (bob, bob2):
        await settle(client)
    for client in (bob, bob2):
        assert events(client, "typing") == [{"type": "typing", "from": "alice", "to": "bob"},
                                            {"type": "typing", "from": "alice", "group": "两台设备"}]
