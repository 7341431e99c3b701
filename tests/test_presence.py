"""
Presence on both stores (a real Redis over loopback TCP, and the in-memory
store): who is online, presence events, several connections per user,
vanishing connections, the lobby.
"""

import pytest
import pytest_twisted

pytestmark = pytest.mark.stores("memory", "redis")

from tests.support.chatting import settle


async def onlineUsers(client):
    return [u["user"] for u in (await client.request("users"))["users"]]


def presenceEvents(client):
    return [e for e in client.events if e.get("type") == "presence"]


@pytest_twisted.ensureDeferred
async def test_onlineOffline(chat):
    """
    Users who share a group (everyone shares the lobby) are told when one
    of them comes online and goes offline.
    """
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    assert await alice.event(type="presence", user="bob") == {"type": "presence", "user": "bob", "status": "online"}
    await bob.request("logout")
    assert await alice.event(type="presence", user="bob") == {"type": "presence", "user": "bob", "status": "offline"}
    # Nobody is told about their own presence (logout closes the
    # connection: all it was sent has come).
    await bob.closed
    assert [e for e in presenceEvents(bob) if e["user"] == "bob"] == []


@pytest_twisted.ensureDeferred
async def test_loginOnlineCount(chat):
    """
    C{online} in the login reply counts distinct users online, the one
    logging in included.
    """
    c = await chat.client()
    for name in ("a", "b", "c"):
        await c.request("register", user=name, password="pw")
    first = await chat.client()
    assert (await first.request("login", user="a", password="pw"))["online"] == 1
    second = await chat.client()
    assert (await second.request("login", user="b", password="pw"))["online"] == 2
    again = await chat.client()
    assert (await again.request("login", user="b", password="pw"))["online"] == 2
    await second.close()
    await again.close()
    await first.event(type="presence", user="b", status="offline")
    third = await chat.client()
    assert (await third.request("login", user="c", password="pw"))["online"] == 2


@pytest_twisted.ensureDeferred
async def test_multipleConnections(chat):
    """
    A user's second connection neither announces it again nor, when it
    closes, makes it offline: only the last connection going does.
    """
    alice = await chat.user("alice")
    bob1 = await chat.user("bob")
    await alice.event(type="presence", user="bob", status="online")
    bob2 = await chat.user("bob", register=False)
    await bob1.close()
    await chat.until(lambda: len(chat.service.registry.sessions("bob")) == 1)
    await settle(alice, 0.1)
    assert presenceEvents(alice) == []
    assert await onlineUsers(alice) == ["alice", "bob"]
    await bob2.close()
    await alice.event(type="presence", user="bob", status="offline")
    assert await onlineUsers(alice) == ["alice"]
    bob3 = await chat.user("bob", register=False)
    await alice.event(type="presence", user="bob", status="online")
    await bob3.request("ping")


@pytest_twisted.ensureDeferred
async def test_everyConnectionGetsEvents(chat):
    """
    Each of a user's connections (main and debug port alike) gets that
    user's events.
    """
    bob1 = await chat.user("bob")
    bob2 = await chat.user("bob", register=False)
    bob3 = await chat.client(lines=True)
    await bob3.request("login", user="bob", password="secret")
    await chat.user("carol")
    for c in (bob1, bob2, bob3):
        await c.event(type="presence", user="carol", status="online")


@pytest_twisted.ensureDeferred
async def test_vanishedConnection(chat):
    """
    A connection that vanishes without logout (aborted) leaves the online
    list at once and its user's neighbours see it go offline.
    """
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    await alice.event(type="presence", user="bob", status="online")
    bob.transport.abortConnection()
    await bob.closed
    await alice.event(type="presence", user="bob", status="offline", timeout=2)
    assert await onlineUsers(alice) == ["alice"]
    assert (await alice.request("users"))["total"] == 1


@pytest_twisted.ensureDeferred
async def test_vanishedDuringLogin(chat):
    """
    A connection that goes away while its login is being checked does not
    stay online.
    """
    alice = await chat.user("alice")
    ghost = await chat.client()
    await ghost.request("register", user="ghost", password="pw")
    ghost.sendObject({"type": "login", "user": "ghost", "password": "pw", "id": "x"})
    ghost.transport.abortConnection()
    await ghost.closed
    await settle(alice, 0.2)
    assert await onlineUsers(alice) == ["alice"]


@pytest_twisted.ensureDeferred
async def test_chineseNames(chat):
    """
    Chinese names round-trip through register, login, users and presence.
    """
    zhang = await chat.user("张三")
    li = await chat.user("李四_2.x-y")
    event = await zhang.event(type="presence", user="李四_2.x-y")
    assert event["status"] == "online"
    page = await li.request("users")
    assert page["users"] == [{"user": "张三", "name": "张三"}, {"user": "李四_2.x-y", "name": "李四_2.x-y"}]
    members = (await li.request("group.members", group="lobby"))["members"]
    assert {m["user"] for m in members} == {"张三", "李四_2.x-y"}


@pytest_twisted.ensureDeferred
async def test_lobby(chat):
    """
    A new user is a member of the lobby; C{group.members} shows who of its
    members is online.
    """
    alice = await chat.user("alice")
    assert (await alice.request("group.list"))["groups"] == ["lobby"]
    await alice.request("register", user="carol", password="pw")
    bob = await chat.user("bob")
    members = (await bob.request("group.members", group="lobby"))["members"]
    assert sorted(members, key=lambda m: m["user"]) == [
        {"user": "alice", "online": True, "role": "member"},
        {"user": "bob", "online": True, "role": "member"},
        {"user": "carol", "online": False, "role": "member"},
    ]
    await alice.request("logout")
    await bob.event(type="presence", user="alice", status="offline")
    members = (await bob.request("group.members", group="lobby"))["members"]
    assert {m["user"]: m["online"] for m in members} == {"alice": False, "bob": True, "carol": False}


@pytest_twisted.ensureDeferred
async def test_noSharedGroupNoPresence(chat):
    """
    Presence goes only to users who share a group: someone who left the
    lobby (and every other group) is not told.
    """
    loner = await chat.user("loner")
    await loner.request("group.leave", group="lobby")
    assert (await loner.request("group.list"))["groups"] == []
    await chat.user("bob")
    await loner.request("group.create", group="private")
    friend = await chat.user("friend")
    await friend.request("group.join", group="private")
    await settle(loner, 0.1)
    assert [e["user"] for e in presenceEvents(loner)] == []
    await friend.request("logout")
    await loner.event(type="presence", user="friend", status="offline")


@pytest_twisted.ensureDeferred
async def test_presenceMaxGroup(make_chat):
    """
    Presence skips groups larger than the configured size (so a huge lobby
    costs no presence storm), but not smaller groups shared too.
    """
    chat = await make_chat(presenceMaxGroup=2)
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    await alice.event(type="presence", user="bob", status="online")
    carol = await chat.user("carol")
    # The lobby now has three members: too large for presence.
    await settle(alice, 0.1)
    assert [e["user"] for e in presenceEvents(alice)] == []
    await bob.request("group.create", group="pair")
    await carol.request("group.join", group="pair")
    await carol.request("logout")
    await bob.event(type="presence", user="carol", status="offline")
    await settle(alice, 0.1)
    assert presenceEvents(alice) == []


@pytest_twisted.ensureDeferred
async def test_debugPortPresence(chat):
    """
    A debug-port user appears in C{users} and announces itself like any
    other; its half-closed connection counts it out.
    """
    alice = await chat.user("alice")
    d = await chat.client(lines=True)
    d.lineEnd = b"\r\n"
    await d.request("register", user="nc_user", password="pw")
    await d.request("login", user="nc_user", password="pw")
    await alice.event(type="presence", user="nc_user", status="online")
    assert await onlineUsers(alice) == ["alice", "nc_user"]
    d.transport.loseWriteConnection()
    await d.closed
    await alice.event(type="presence", user="nc_user", status="offline")
