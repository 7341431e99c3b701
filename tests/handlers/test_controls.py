"""
Personal controls through the protocol, on both stores: blocks, password
changes, account deletion, display names, user.info, server bans, and the
C{bye} said before every close the server makes on purpose, on one node and
across two.
"""

import pytest
import pytest_twisted

pytestmark = pytest.mark.stores("memory", "redis")

from tests.support.chatting import login, logout, settle
from tests.support.wire import WireError


async def refused(code, d):
    with pytest.raises(WireError) as info:
        await d
    assert info.value.code == code, info.value.reply
    return info.value.reply


async def closedWith(chat, client, reason):
    """
    Wait until the server closed C{client}; its last event is the C{bye}
    giving C{reason}.
    """
    await chat.until(lambda: not client.connected, timeout=10)
    assert client.events[-1] == {"type": "bye", "reason": reason}, client.events[-3:]


async def secondNode(make_chat, first, store, **options):
    """
    Another node on C{first}'s storage; both know of each other.
    """
    if store == "memory":
        second = await make_chat(node="node-2", data=first.store.data, clock=first.clock, **options)
    else:
        second = await make_chat(node="node-2", **options)
    for node in (first, second):
        await node.service.monitor.beat()
    await first.until(lambda: first.service.relay.multiNode and second.service.relay.multiNode, timeout=10)
    return second


# Blocks.


@pytest_twisted.ensureDeferred
async def test_blockedSendStoresNothing(chat):
    """
    A send to a user who blocked the sender gets C{blocked}, and nothing is
    stored or delivered; the blocker cannot write either (C{forbidden}, as
    in Signal: unblock first); unblocking lets both through again, with the
    conversation's ids going on from where they were.
    """
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    await alice.request("send", to="bob", text="你好 👋")
    assert (await bob.request("block", user="alice")) == {"type": "ok", "id": 3}
    assert (await bob.request("blocks"))["users"] == ["alice"]
    await refused("blocked", alice.request("send", to="bob", text="还在吗？"))
    await refused("blocked", alice.request("send", to="bob", text="还在吗？", cid="c-1"))
    history = (await bob.request("history", **{"with": "alice"}))["messages"]
    assert [m["text"] for m in history] == ["你好 👋"]
    await refused("forbidden", bob.request("send", to="alice", text="别烦我"))
    await refused("forbidden", bob.request("send", to="alice", text="别烦我", cid="c-2"))
    await settle(bob)
    assert [e["text"] for e in bob.messages()] == ["你好 👋"]
    await bob.request("unblock", user="alice")
    assert (await bob.request("blocks"))["users"] == []
    reply = await alice.request("send", to="bob", text="好的 🙂")
    assert (await bob.event(type="message", text="好的 🙂"))["from"] == "alice"
    history = (await bob.request("history", **{"with": "alice"}))["messages"]
    assert [m["text"] for m in history] == ["你好 👋", "好的 🙂"]
    assert history[-1]["msg_id"] == reply["msg_id"] and history[0]["ts"] <= reply["ts"]
    await bob.request("send", to="alice", text="嗯")


@pytest_twisted.ensureDeferred
async def test_blockBeforeAnyMessage(chat):
    """
    A block between two users who never wrote to each other holds too, both
    ways, and lifting it lets the first message through.
    """
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    await bob.request("block", user="alice")
    await refused("blocked", alice.request("send", to="bob", text="第一次"))
    await refused("forbidden", bob.request("send", to="alice", text="第一次"))
    await alice.request("block", user="bob")
    await bob.request("unblock", user="alice")
    # Still refused: alice blocks bob now.
    await refused("forbidden", alice.request("send", to="bob", text="第二次"))
    await refused("blocked", bob.request("send", to="alice", text="第二次"))
    await alice.request("unblock", user="bob")
    await alice.request("send", to="bob", text="终于 🎉")
    assert (await bob.event(type="message", text="终于 🎉"))["from"] == "alice"


@pytest_twisted.ensureDeferred
async def test_blockErrors(chat):
    bob = await chat.user("bob")
    await refused("no_such_user", bob.request("block", user="nobody"))
    await refused("bad_request", bob.request("block", user="bob"))
    await refused("bad_request", bob.request("block"))
    # Blocking twice, unblocking someone not blocked: ok, nothing changes.
    await chat.user("alice")
    await bob.request("block", user="alice")
    await bob.request("block", user="alice")
    await bob.request("unblock", user="张三")
    assert (await bob.request("blocks"))["users"] == ["alice"]


@pytest_twisted.ensureDeferred
async def test_blocksCapped(chat):
    """
    The number of blocks is capped (C{bad_request}, nothing changed).
    """
    chat.service.store.controls.maxBlocks = 2
    bob = await chat.user("bob")
    for name in ("a1", "a2", "a3"):
        await chat.user(name)
    await bob.request("block", user="a1")
    await bob.request("block", user="a2")
    reply = await refused("bad_request", bob.request("block", user="a3"))
    assert "'user'" in reply["message"]
    assert (await bob.request("blocks"))["users"] == ["a1", "a2"]


@pytest_twisted.ensureDeferred
async def test_groupMessagesNotFiltered(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    await bob.request("block", user="alice")
    await alice.request("group.send", group="lobby", text="大家好")
    assert (await bob.event(type="message", group="lobby"))["from"] == "alice"


@pytest_twisted.ensureDeferred
async def test_noPresenceAboutBlockedUser(chat):
    """
    A blocker (on every device) gets no presence event about the blocked
    user; others still do; unblocking brings them back.
    """
    bob = await chat.user("bob")
    bobPhone = await login(chat, "bob")
    carol = await chat.user("carol")
    alice = await chat.user("alice")
    await settle(alice)
    for c in (bob, bobPhone, carol):
        c.events.clear()
    await bob.request("block", user="alice")
    await logout(chat, alice)
    alice = await login(chat, "alice")
    await settle(carol)
    await settle(bob)
    await settle(bobPhone)
    about = [e for e in carol.events if e.get("type") == "presence" and e["user"] == "alice"]
    assert [e["status"] for e in about] == ["offline", "online"]
    for c in (bob, bobPhone):
        assert [e for e in c.events if e.get("type") == "presence" and e["user"] == "alice"] == []
    await bobPhone.request("unblock", user="alice")
    await logout(chat, alice)
    await settle(bob)
    assert [e["status"] for e in bob.events if e.get("type") == "presence"] == ["offline"]


@pytest_twisted.ensureDeferred
async def test_blockFollowsToAnotherNode(make_chat, store):
    """
    A block made on one node keeps the blocker's connection on another
    node from presence events about the blocked user too.
    """
    first = await make_chat()
    second = await secondNode(make_chat, first, store)
    bob = await first.user("bob")
    bobThere = await login(second, "bob")
    alice = await second.user("alice")
    await bob.request("block", user="alice")
    await settle(bob)
    bobThere.events.clear()
    await logout(second, alice)
    await second.wait(0.3)
    await settle(bobThere)
    assert [e for e in bobThere.events if e.get("type") == "presence"] == []
    await refused("blocked", (await second.user("alice", register=False)).request("send", to="bob", text="hi"))


# Passwords and deletion.


@pytest_twisted.ensureDeferred
async def test_passwordChange(chat):
    """
    A wrong old password is C{auth_failed}; a right one changes it and
    closes the user's other connections with C{bye}.
    """
    laptop = await chat.user("张三", password="旧密码")
    phone = await login(chat, "张三", password="旧密码")
    other = await chat.user("李四")
    await refused("auth_failed", laptop.request("password.change", old="错的", new="新密码 🔑"))
    assert phone.connected
    await laptop.request("password.change", old="旧密码", new="新密码 🔑")
    await closedWith(chat, phone, "password_changed")
    assert laptop.connected and other.connected
    assert (await laptop.request("ping"))["type"] == "ok"
    c = await chat.client()
    await refused("auth_failed", c.request("login", user="张三", password="旧密码"))
    await c.request("login", user="张三", password="新密码 🔑")


@pytest_twisted.ensureDeferred
async def test_accountDelete(chat):
    """
    Deleting closes every connection of the account with C{bye}; it cannot
    log in, its name stays taken, its messages stay in others' history,
    its groups are left.
    """
    gone = await chat.user("gone")
    goneToo = await login(chat, "gone")
    friend = await chat.user("friend")
    await gone.request("group.create", group="俱乐部")
    await friend.request("group.join", group="俱乐部")
    await gone.request("send", to="friend", text="再见 👋")
    await refused("auth_failed", gone.request("account.delete", password="wrong"))
    reply = await gone.request("account.delete", password="secret")
    assert reply["type"] == "ok"
    await closedWith(chat, gone, "account_deleted")
    await closedWith(chat, goneToo, "account_deleted")
    c = await chat.client()
    await refused("auth_failed", c.request("login", user="gone", password="secret"))
    await refused("user_exists", c.request("register", user="gone", password="x"))
    await refused("name_taken", c.request("register", user="GONE", password="x"))
    history = (await friend.request("history", **{"with": "gone"}))["messages"]
    assert [m["text"] for m in history] == ["再见 👋"]
    members = (await friend.request("group.members", group="俱乐部"))["members"]
    assert [m["user"] for m in members] == ["friend"]
    lobby = (await friend.request("group.members", group="lobby"))["members"]
    assert "gone" not in [m["user"] for m in lobby]
    await refused("no_such_user", friend.request("user.info", user="gone"))
    await refused("no_such_user", friend.request("send", to="gone", text="你还在吗"))


@pytest_twisted.ensureDeferred
async def test_wrongPasswordsAreThrottled(chat):
    """
    Guessing through password.change is slowed down as login guessing is.
    """
    c = await chat.user("victim")
    codes = []
    for _ in range(12):
        try:
            await c.request("password.change", old="guess", new="x")
        except WireError as e:
            codes.append(e.code)
    assert "rate_limited" in codes
    assert codes[0] == "auth_failed"


# Profiles and user.info.


@pytest_twisted.ensureDeferred
async def test_profileAndInfo(chat):
    alice = await chat.user("alice")
    assert (await alice.request("profile.set", name="爱丽丝 🌸")) == {"type": "ok", "id": 3, "name": "爱丽丝 🌸"}
    bob = await chat.user("bob")
    info = await bob.request("user.info", user="alice")
    assert info == {"type": "ok", "id": 3, "user": "alice", "name": "爱丽丝 🌸", "online": True}
    await logout(chat, alice)
    assert (await bob.request("user.info", user="alice"))["online"] is False
    await refused("no_such_user", bob.request("user.info", user="nobody"))
    await refused("bad_request", bob.request("profile.set", name="x" * 65))
    await refused("bad_request", bob.request("profile.set", name=""))
    again = await login(chat, "alice")
    assert (await again.request("users"))["users"][0]["name"] == "爱丽丝 🌸"


# Server bans.


@pytest_twisted.ensureDeferred
async def test_adminBan(make_chat):
    chat = await make_chat(admins={"root"})
    root = await chat.user("root")
    troll = await chat.user("troll")
    trollPhone = await login(chat, "troll")
    other = await chat.user("other")
    await refused("forbidden", other.request("admin.ban", user="troll"))
    await refused("forbidden", other.request("admin.unban", user="troll"))
    await refused("no_such_user", root.request("admin.ban", user="nobody"))
    await root.request("admin.ban", user="troll")
    await closedWith(chat, troll, "banned")
    await closedWith(chat, trollPhone, "banned")
    c = await chat.client()
    reply = await refused("forbidden", c.request("login", user="troll", password="secret"))
    assert reply["message"]
    # Only with the right password is the ban told.
    await refused("auth_failed", c.request("login", user="troll", password="wrong"))
    await root.request("admin.unban", user="troll")
    await c.request("login", user="troll", password="secret")


# bye.


@pytest_twisted.ensureDeferred
async def test_logoutSaysBye(chat):
    alice = await chat.user("alice")
    reply = await alice.request("logout")
    assert reply["type"] == "ok"
    await closedWith(chat, alice, "logout")


@pytest_twisted.ensureDeferred
async def test_byeAcrossNodes(make_chat, store):
    """
    A password change, a deletion and a ban close the user's connections on
    the other node too, each with its C{bye}.
    """
    first = await make_chat(admins={"root"})
    second = await secondNode(make_chat, first, store, admins={"root"})
    here = await first.user("alice", password="pw")
    there = await login(second, "alice", password="pw")
    await here.request("password.change", old="pw", new="pw2")
    await closedWith(second, there, "password_changed")
    assert here.connected
    there = await login(second, "alice", password="pw2")
    root = await second.user("root")
    await root.request("admin.ban", user="alice")
    await closedWith(first, here, "banned")
    await closedWith(second, there, "banned")
    await root.request("admin.unban", user="alice")
    here = await login(first, "alice", password="pw2")
    there = await login(second, "alice", password="pw2")
    await here.request("account.delete", password="pw2")
    await closedWith(first, here, "account_deleted")
    await closedWith(second, there, "account_deleted")


@pytest_twisted.ensureDeferred
async def test_shutdownSaysBye(make_chat):
    chat = await make_chat()
    alice = await chat.user("alice")
    await chat.service.stopService()
    await closedWith(chat, alice, "shutdown")
