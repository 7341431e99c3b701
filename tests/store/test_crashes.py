"""
A node that dies between the steps of a request that writes to several hash
slots (a fault point armed in its store) loses nothing and shows nothing
twice: a new node on the same Redis, as after a restart, finds every
invariant of docs/storage.rst ("Requests that change two slots") holding.
"""

import pytest
import pytest_twisted
from twisted.application.service import MultiService

from chatroom.store.faults import FaultPoints
from tests.support.chatting import caughtUp, offline, settle
from tests.support.wire import WireError


async def crash(server):
    """
    Kill C{server} as a crash would: its ports and Redis links go away and
    nothing is said or counted out.
    """
    service = server.service
    for port in server.listening:
        await port.stopListening()
    service.sessions.stop()
    if service.monitor.running:
        service.monitor.stopService()
    await service.store.stopService()
    for client in server.clients:
        client.transport.abortConnection()
    server.services, server.listening, server.clients = MultiService(), [], []


async def failsAt(server, part, point, client, type, **fields):
    """
    Send a request that dies at fault point C{point} of the store's
    C{part}; the client gets C{internal}; then the node crashes.
    """
    setattr(getattr(server.service.store, part), "faults", FaultPoints(point))
    with pytest.raises(WireError) as e:
        await client.request(type, **fields)
    assert e.value.code == "internal"
    await crash(server)


@pytest_twisted.ensureDeferred
async def test_register_dies_before_the_lobby_membership(make_chat):
    first = await make_chat()
    client = await first.client()
    await failsAt(first, "accounts", "register.created", client, "register", user="新人", password="pw")
    second = await make_chat()
    # The account exists; its first login finishes the lobby membership.
    with pytest.raises(WireError) as e:
        await (await second.client()).request("register", user="新人", password="pw")
    assert e.value.code == "user_exists"
    newcomer = await second.user("新人", password="pw", register=False)
    assert (await newcomer.request("group.list"))["groups"] == ["lobby"]
    other = await second.user("老王")
    await other.request("group.send", group="lobby", text="欢迎 👋")
    assert (await newcomer.event(type="message"))["text"] == "欢迎 👋"
    members = (await other.request("group.members", group="lobby"))["members"]
    assert [m["user"] for m in members].count("新人") == 1


@pytest_twisted.ensureDeferred
async def test_register_dies_before_the_account_is_settled(make_chat):
    first = await make_chat()
    await failsAt(first, "accounts", "register.joined", await first.client(), "register", user="bob", password="pw")
    second = await make_chat()
    bob = await second.user("bob", password="pw", register=False)
    assert (await bob.request("group.list"))["groups"] == ["lobby"]
    assert second.redis.command("HEXISTS", "{u:bob}", "new") == b":0\r\n"


async def notIn(chat, owner, name, group):
    """
    On the restarted C{chat}: a message C{owner} sends to C{group} does not
    reach C{name}, whose group list and history say it is not a member;
    C{name}'s new connection.
    """
    await owner.request("group.send", group=group, text="之后的消息 📮")
    client = await chat.user(name, register=False)
    await caughtUp(chat, client)
    assert offline(client) == []
    assert (await client.request("group.list"))["groups"] == ["lobby"]
    with pytest.raises(WireError) as e:
        await client.request("history", group=group)
    assert e.value.code == "not_member"
    return client


@pytest_twisted.ensureDeferred
async def test_first_message_dies_before_it_is_stored(make_chat):
    first = await make_chat()
    alice = await first.user("alice")
    # Not logged in: the first message asks Redis whether bob exists.
    await (await first.client()).request("register", user="bob", password="secret")
    await failsAt(first, "messages", "send.introduced", alice, "send", to="bob", text="丢了吗")
    second = await make_chat()
    bob = await second.user("bob", register=False)
    await caughtUp(second, bob)
    assert offline(bob) == []
    assert (await bob.request("history", **{"with": "alice"}))["messages"] == []
    # The next message is stored and pushed once.
    alice = await second.user("alice", register=False)
    ok = await alice.request("send", to="bob", text="再来一次 🙂")
    later = await second.user("bob", register=False)
    await caughtUp(second, later)
    assert [e["msg_id"] for e in offline(later)] == [ok["msg_id"]]


@pytest_twisted.ensureDeferred
async def test_send_dies_after_it_is_stored_and_the_retry_with_its_cid_is_the_same_message(make_chat):
    first = await make_chat()
    alice = await first.user("alice")
    await first.user("bob")
    await alice.request("send", to="bob", text="first")
    await failsAt(first, "messages", "send.stored", alice, "send", to="bob", text="重发 📨", cid="c-1")
    second = await make_chat()
    alice = await second.user("alice", register=False)
    retried = await alice.request("send", to="bob", text="重发 📨", cid="c-1")
    bob = await second.user("bob", register=False)
    await caughtUp(second, bob)
    texts = [e["text"] for e in offline(bob)]
    assert texts == ["first", "重发 📨"]
    assert offline(bob)[-1]["msg_id"] == retried["msg_id"]


@pytest_twisted.ensureDeferred
async def test_join_dies_before_the_membership(make_chat):
    first = await make_chat()
    owner = await first.user("owner")
    await owner.request("group.create", group="项目组")
    joiner = await first.user("joiner")
    await failsAt(first, "groups", "join.indexed", joiner, "group.join", group="项目组")
    second = await make_chat()
    joiner = await second.user("joiner", register=False)
    assert (await joiner.request("group.list"))["groups"] == ["lobby"]
    owner = await second.user("owner", register=False)
    assert [m["user"] for m in (await owner.request("group.members", group="项目组"))["members"]] == ["owner"]
    await joiner.request("group.join", group="项目组")
    assert (await joiner.request("group.list"))["groups"] == ["lobby", "项目组"]


@pytest_twisted.ensureDeferred
async def test_leave_dies_before_the_index_is_cleaned(make_chat):
    first = await make_chat()
    owner = await first.user("owner")
    await owner.request("group.create", group="g")
    member = await first.user("member")
    await member.request("group.join", group="g")
    await failsAt(first, "groups", "leave.left", member, "group.leave", group="g")
    second = await make_chat()
    owner = await second.user("owner", register=False)
    await notIn(second, owner, "member", "g")


@pytest_twisted.ensureDeferred
async def test_create_dies_before_the_group_exists(make_chat):
    first = await make_chat()
    creator = await first.user("creator")
    await failsAt(first, "groups", "create.indexed", creator, "group.create", group="新组")
    second = await make_chat()
    creator = await second.user("creator", register=False)
    assert (await creator.request("group.list"))["groups"] == ["lobby"]
    with pytest.raises(WireError) as e:
        await creator.request("group.join", group="新组")
    assert e.value.code == "no_such_group"
    await creator.request("group.create", group="新组")
    assert (await creator.request("group.list"))["groups"] == ["lobby", "新组"]


@pytest.mark.parametrize("point", ["connect.indexed", "connect.located"])
@pytest_twisted.ensureDeferred
async def test_login_dies_half_counted(make_chat, point):
    first = await make_chat()
    watcher = await first.user("watcher")
    await first.user("carol")
    carol = await first.client()
    await failsAt(first, "presence", point, carol, "login", user="carol", password="secret")
    second = await make_chat()
    watcher = await second.user("watcher", register=False)
    # The restarted node cleared what its earlier run left.
    page = await watcher.request("users")
    assert [u["user"] for u in page["users"]] == ["watcher"] and page["total"] == 1
    carol = await second.user("carol", register=False)
    assert (await watcher.request("users"))["total"] == 2
    await carol.close()
    await second.until(lambda: second.redis.command("ZCARD", "{online}") == b":1\r\n")


@pytest_twisted.ensureDeferred
async def test_logout_dies_half_counted(make_chat):
    first = await make_chat()
    dave = await first.user("dave")
    first.service.store.presence.faults = FaultPoints("disconnect.unlocated")
    await dave.close()
    await first.until(lambda: first.service.store.presence.faults.reached)
    await crash(first)
    second = await make_chat()
    watcher = await second.user("watcher")
    page = await watcher.request("users")
    assert [u["user"] for u in page["users"]] == ["watcher"]
    assert second.redis.command("SMEMBERS", "{n:test-node}:users") == b"*1\r\n$7\r\nwatcher\r\n"
    await settle(watcher)


@pytest_twisted.ensureDeferred
async def test_logout_dies_before_the_node_index(make_chat):
    # Out of {online}, still in the node's index: the node's restart counts
    # the user out again, harmlessly (the other order left {online} naming
    # a user nobody could count out: a worker killed mid-logout did that).
    first = await make_chat()
    dave = await first.user("dave")
    first.service.store.presence.faults = FaultPoints("disconnect.offline")
    await dave.close()
    await first.until(lambda: first.service.store.presence.faults.reached)
    await crash(first)
    second = await make_chat()
    watcher = await second.user("watcher")
    page = await watcher.request("users")
    assert [u["user"] for u in page["users"]] == ["watcher"]
    assert second.redis.command("ZRANGE", "{online}", "0", "-1") == b"*1\r\n$7\r\nwatcher\r\n"
    assert second.redis.command("SMEMBERS", "{n:test-node}:users") == b"*1\r\n$7\r\nwatcher\r\n"
    await settle(watcher)


@pytest_twisted.ensureDeferred
async def test_add_dies_before_the_membership(make_chat):
    first = await make_chat()
    owner = await first.user("owner")
    await owner.request("group.create", group="项目组", visibility="private")
    await first.user("新人")
    await failsAt(first, "groups", "add.indexed", owner, "group.add", group="项目组", user="新人")
    second = await make_chat()
    owner = await second.user("owner", register=False)
    newcomer = await notIn(second, owner, "新人", "项目组")
    await owner.request("group.add", group="项目组", user="新人")
    assert (await newcomer.request("group.list"))["groups"] == ["lobby", "项目组"]


@pytest.mark.parametrize("kind, point", [("group.kick", "kick.removed"), ("group.ban", "ban.removed")])
@pytest_twisted.ensureDeferred
async def test_kick_dies_before_the_index_is_cleaned(make_chat, kind, point):
    first = await make_chat()
    owner = await first.user("owner")
    await owner.request("group.create", group="g")
    troll = await first.user("捣蛋鬼")
    await troll.request("group.join", group="g")
    await failsAt(first, "groups", point, owner, kind, group="g", user="捣蛋鬼")
    second = await make_chat()
    owner = await second.user("owner", register=False)
    await notIn(second, owner, "捣蛋鬼", "g")


@pytest_twisted.ensureDeferred
async def test_delete_dies_before_the_indexes_are_cleaned(make_chat):
    first = await make_chat()
    owner = await first.user("owner")
    await owner.request("group.create", group="旧群")
    member = await first.user("member")
    await member.request("group.join", group="旧群")
    await member.request("group.send", group="旧群", text="旧消息")
    await failsAt(first, "groups", "delete.deleted", owner, "group.delete", group="旧群")
    second = await make_chat()
    member = await second.user("member", register=False)
    await caughtUp(second, member)
    assert offline(member) == []
    assert (await member.request("group.list"))["groups"] == ["lobby"]
    assert [g["group"] for g in (await member.request("group.directory"))["groups"]] == ["lobby"]
    await member.request("group.create", group="旧群")
    assert (await member.request("history", group="旧群"))["messages"] == []
    owner = await second.user("owner", register=False)
    assert (await owner.request("group.list"))["groups"] == ["lobby"]


# Names and personal controls (PROTOCOL 1.1).


@pytest_twisted.ensureDeferred
async def test_register_dies_after_the_name_claims(make_chat, monkeypatch):
    first = await make_chat()
    await failsAt(first, "accounts", "register.claimed", await first.client(), "register",
                  user="Zoë", password="pw")
    second = await make_chat()
    c = await second.client()
    # A lookalike waits for the claim to go stale; the name itself goes on.
    with pytest.raises(WireError) as e:
        await c.request("register", user="ZOË", password="pw")
    assert e.value.code == "name_taken"
    await c.request("register", user="Zoë", password="pw")
    assert (await c.request("login", user="Zoë", password="pw"))["user"] == "Zoë"


@pytest_twisted.ensureDeferred
async def test_a_stale_claim_is_taken_over(make_chat, monkeypatch):
    import chatroom.store.names

    first = await make_chat()
    await failsAt(first, "accounts", "register.claimed", await first.client(), "register",
                  user="abandoned", password="pw")
    second = await make_chat()
    monkeypatch.setattr(chatroom.store.names, "STALE_SECONDS", 0)
    c = await second.client()
    await c.request("register", user="ABANDONED", password="pw")
    with pytest.raises(WireError) as e:
        await c.request("register", user="abandoned", password="pw")
    assert e.value.code == "name_taken"


@pytest_twisted.ensureDeferred
async def test_block_dies_before_the_marker(make_chat):
    first = await make_chat()
    await first.user("alice")
    bob = await first.user("bob")
    await failsAt(first, "controls", "block.listed", bob, "block", user="alice")
    second = await make_chat()
    # Listed; the blocker's next login brings the marker in line.
    bob = await second.user("bob", register=False)
    assert (await bob.request("blocks"))["users"] == ["alice"]
    alice = await second.user("alice", register=False)
    with pytest.raises(WireError) as e:
        await alice.request("send", to="bob", text="还在吗")
    assert e.value.code == "blocked"
    assert second.redis.command("SCARD", "{u:bob}:blocks:pending") == b":0\r\n"


@pytest_twisted.ensureDeferred
async def test_unblock_dies_before_the_marker(make_chat):
    first = await make_chat()
    await first.user("alice")
    bob = await first.user("bob")
    await bob.request("block", user="alice")
    await failsAt(first, "controls", "unblock.listed", bob, "unblock", user="alice")
    second = await make_chat()
    bob = await second.user("bob", register=False)
    assert (await bob.request("blocks"))["users"] == []
    alice = await second.user("alice", register=False)
    await alice.request("send", to="bob", text="又是我 🙂")
    assert (await bob.event(type="message"))["text"] == "又是我 🙂"


@pytest_twisted.ensureDeferred
async def test_delete_dies_after_leaving_the_groups(make_chat):
    first = await make_chat()
    gone = await first.user("gone")
    await gone.request("group.create", group="俱乐部")
    await failsAt(first, "controls", "delete.left", gone, "account.delete", password="secret")
    second = await make_chat()
    # Not deleted: the account is there, out of its groups; the retry
    # deletes it.
    gone = await second.user("gone", register=False)
    assert (await gone.request("group.list"))["groups"] == []
    await gone.request("account.delete", password="secret")
    with pytest.raises(WireError) as e:
        await (await second.client()).request("login", user="gone", password="secret")
    assert e.value.code == "auth_failed"


@pytest_twisted.ensureDeferred
async def test_names_made_before_the_rules_are_indexed_at_start(make_chat):
    first = await make_chat()
    await first.user("olduser")
    await first.user("other")
    # As a release without name keys left it.
    for key in ("{s:olduser}", "{layout}:names"):
        first.redis.command("DEL", key)
    await crash(first)
    second = await make_chat()
    with pytest.raises(WireError) as e:
        await (await second.client()).request("register", user="OLDUSER", password="pw")
    assert e.value.code == "name_taken"
