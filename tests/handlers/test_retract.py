# -*- test-case-name: tests.handlers.test_retract -*-
"""
C{retract}: who may, the C{retract} event to the conversation's online
participants (every node), and the message shown as retracted, without its
text, by history, the login push and the conversation list; through the
protocol on both stores.
"""

import pytest
import pytest_twisted

from tests.support.chatting import caughtUp, login, logout, offline, settle
from tests.support.twonodes import events, twoNodes
from tests.support.wire import WireError

pytestmark = pytest.mark.stores("memory", "redis")


@pytest_twisted.ensureDeferred
async def test_the_sender_retracts_a_direct_message(chat):
    alice1 = await chat.user("alice")
    alice2 = await login(chat, "alice")
    bob = await chat.user("bob")
    before = await alice1.request("send", to="bob", text="第一条 🙂")
    oops = await alice1.request("send", to="bob", text="发错了 🙈")
    after = await bob.request("send", to="alice", text="？")
    await alice1.request("retract", msg_id=oops["msg_id"], **{"with": "bob"})
    assert await bob.event(type="retract") == {
        "type": "retract", "msg_id": oops["msg_id"], "with": "alice", "by": "alice"}
    assert await alice2.event(type="retract") == {
        "type": "retract", "msg_id": oops["msg_id"], "with": "bob", "by": "alice"}
    for client, peer in ((bob, "alice"), (alice2, "bob")):
        messages = (await client.request("history", **{"with": peer}))["messages"]
        assert [m["msg_id"] for m in messages] == [before["msg_id"], oops["msg_id"], after["msg_id"]]
        assert messages[1] == {"msg_id": oops["msg_id"], "from": "alice", "to": "bob", "ts": oops["ts"],
                               "retracted": True}
        assert messages[0]["text"] == "第一条 🙂"
    # Retracting again changes nothing and tells nobody.
    await alice2.request("retract", msg_id=oops["msg_id"], **{"with": "bob"})
    await settle(bob)
    assert events(bob, "retract") == []


@pytest_twisted.ensureDeferred
async def test_history_pages_keep_retracted_messages_in_place(chat):
    alice = await chat.user("alice")
    await chat.user("bob")
    sent = [await alice.request("send", to="bob", text="消息%d 😀" % i) for i in range(7)]
    for i in (1, 2, 5):
        await alice.request("retract", msg_id=sent[i]["msg_id"], **{"with": "bob"})
    pages, before = [], None
    while True:
        fields = {"with": "bob", "limit": 2}
        if before:
            fields["before"] = before
        reply = await alice.request("history", **fields)
        pages.insert(0, reply["messages"])
        if not reply["more"]:
            break
        before = reply["messages"][0]["msg_id"]
    flat = [m for page in pages for m in page]
    assert [m["msg_id"] for m in flat] == [s["msg_id"] for s in sent]
    assert [m.get("retracted", False) for m in flat] == [False, True, True, False, False, True, False]
    assert all(("text" in m) != m.get("retracted", False) for m in flat)


@pytest_twisted.ensureDeferred
async def test_the_login_push_shows_retracted_messages(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    await logout(chat, bob)
    kept = await alice.request("send", to="bob", text="留着 📌")
    gone = await alice.request("send", to="bob", text="撤回 🗑")
    await alice.request("retract", msg_id=gone["msg_id"], **{"with": "bob"})
    bob = await login(chat, "bob")
    await caughtUp(chat, bob)
    pushed = offline(bob)
    assert [m["msg_id"] for m in pushed] == [kept["msg_id"], gone["msg_id"]]
    assert pushed[1] == {"type": "message", "msg_id": gone["msg_id"], "from": "alice", "to": "bob",
                         "ts": gone["ts"], "retracted": True, "offline": True}
    # Read positions did not move: acking past it works as before.
    await bob.request("ack", upto=gone["msg_id"], **{"with": "alice"})
    found = {c.get("with"): c for c in (await bob.request("conversations"))["conversations"]}
    assert found["alice"]["unread"] == 0 and found["alice"]["read"] == gone["msg_id"]
    assert found["alice"]["last"]["retracted"] is True and "text" not in found["alice"]["last"]


@pytest_twisted.ensureDeferred
async def test_a_retracted_message_is_not_unread(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    first = await bob.request("send", to="alice", text="一")
    await bob.request("send", to="alice", text="二")
    await bob.request("retract", msg_id=first["msg_id"], **{"with": "alice"})
    found = {c.get("with"): c for c in (await alice.request("conversations"))["conversations"]}
    assert found["bob"]["unread"] == 1


@pytest_twisted.ensureDeferred
async def test_who_may_not_retract(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    sent = await alice.request("send", to="bob", text="我的 ✋")
    cases = [
        (bob, {"msg_id": sent["msg_id"], "with": "alice"}, "forbidden"),
        (alice, {"msg_id": "1-0", "with": "bob"}, "bad_request"),
        (alice, {"msg_id": sent["msg_id"], "with": "nobody"}, "no_such_user"),
        (alice, {"msg_id": "not-an-id", "with": "bob"}, "bad_request"),
        (alice, {"msg_id": sent["msg_id"]}, "bad_request"),
        (alice, {"msg_id": sent["msg_id"], "with": "bob", "group": "lobby"}, "bad_request"),
        (alice, {"msg_id": sent["msg_id"], "group": "nothing"}, "no_such_group"),
    ]
    for client, fields, code in cases:
        with pytest.raises(WireError) as e:
            await client.request("retract", **fields)
        assert e.value.code == code, fields
    messages = (await bob.request("history", **{"with": "alice"}))["messages"]
    assert messages[0]["text"] == "我的 ✋"


@pytest_twisted.ensureDeferred
async def test_group_retraction_by_sender_owner_admin_and_server_admin(make_chat, store):
    chat = await make_chat(admins={"root"})
    owner = await chat.user("群主")
    admin = await chat.user("管理员")
    member = await chat.user("成员")
    root = await chat.user("root")
    outsider = await chat.user("路人")
    await owner.request("group.create", group="读书会")
    for client in (admin, member):
        await client.request("group.join", group="读书会")
    await owner.request("group.role", group="读书会", user="管理员", role="admin")
    sent = [await member.request("group.send", group="读书会", text="第%d条 📚" % i) for i in range(4)]
    mine = await admin.request("group.send", group="读书会", text="管理员的 🛡")
    for client, fields, code in (
        (member, {"msg_id": mine["msg_id"]}, "forbidden"),
        (outsider, {"msg_id": sent[0]["msg_id"]}, "not_member"),
    ):
        with pytest.raises(WireError) as e:
            await client.request("retract", group="读书会", **fields)
        assert e.value.code == code
    for client, message in ((member, sent[0]), (owner, sent[1]), (admin, sent[2]), (root, sent[3])):
        await client.request("retract", group="读书会", msg_id=message["msg_id"])
        by = {member: "成员", owner: "群主", admin: "管理员", root: "root"}[client]
        for other in (owner, admin, member):
            if other is not client:
                assert await other.event(type="retract", msg_id=message["msg_id"]) == {
                    "type": "retract", "msg_id": message["msg_id"], "group": "读书会", "by": by}
    messages = (await member.request("history", group="读书会"))["messages"]
    assert [m.get("retracted", False) for m in messages] == [True, True, True, True, False]
    assert messages[4]["text"] == "管理员的 🛡"
    await settle(outsider)
    assert events(outsider, "retract") == []


@pytest_twisted.ensureDeferred
async def test_the_text_is_gone_from_storage(chat, store):
    alice = await chat.user("alice")
    await chat.user("bob")
    sent = await alice.request("send", to="bob", text="秘密 🤫 secret")
    await alice.request("retract", msg_id=sent["msg_id"], **{"with": "bob"})
    if store == "redis":
        link = chat.service.store.link
        dump = repr([await link.execute("XRANGE", key, "-", "+")
                     for key in await link.execute("KEYS", "*:stream")])
    else:
        dump = repr(vars(chat.store.data))
    assert "secret" not in dump


@pytest_twisted.ensureDeferred
async def test_retract_events_cross_nodes(make_chat, store):
    first, second = await twoNodes(make_chat, store)
    alice = await first.user("alice")
    alice2 = await login(second, "alice")
    bob = await second.user("bob")
    await alice.request("group.create", group="跨节点")
    await bob.request("group.join", group="跨节点")
    direct = await alice.request("send", to="bob", text="撤回我 🌍")
    grouped = await alice.request("group.send", group="跨节点", text="也撤回我 🌏")
    await alice.request("retract", msg_id=direct["msg_id"], **{"with": "bob"})
    assert (await bob.event(type="retract"))["with"] == "alice"
    assert (await alice2.event(type="retract"))["with"] == "bob"
    await alice.request("retract", msg_id=grouped["msg_id"], group="跨节点")
    assert (await bob.event(type="retract")) == {
        "type": "retract", "msg_id": grouped["msg_id"], "group": "跨节点", "by": "alice"}


@pytest_twisted.ensureDeferred
async def test_a_group_made_again_shows_nothing_of_the_deleted_one(chat):
    """
    A deleted group's retractions go with it: a group made again under its
    name shows neither the old messages nor their tombstones, and its
    conversation entry counts nothing unread of them.
    """
    owner = await chat.user("群主")
    member = await chat.user("成员")
    await owner.request("group.create", group="旧群")
    await member.request("group.join", group="旧群")
    sent = await member.request("group.send", group="旧群", text="撤回我 🙈")
    await member.request("retract", group="旧群", msg_id=sent["msg_id"])
    await owner.request("group.delete", group="旧群")
    await owner.request("group.create", group="旧群")
    await member.request("group.join", group="旧群")
    assert (await member.request("history", group="旧群"))["messages"] == []
    new = await owner.request("group.send", group="旧群", text="新的开始 🌱")
    messages = (await member.request("history", group="旧群"))["messages"]
    assert [(m["msg_id"], m.get("text")) for m in messages] == [(new["msg_id"], "新的开始 🌱")]
    entry = [c for c in (await member.request("conversations"))["conversations"] if c.get("group") == "旧群"]
    assert entry[0]["unread"] == 1
