"""
Limits over the wire, on the in-memory store and on a real Redis over
loopback TCP: C{rate_limited} replies with nothing stored, the login
throttle across remote addresses (keyed by user and address, with its
per-user backstop), refused connections, the budget and deadline of
connections not logged in, IPv6 addresses counted by /64, the caps on
groups per user and members per group, and slow consumers (disconnected,
then everything pending at the next login).
"""

import socket

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

pytestmark = pytest.mark.stores("memory", "redis")

from chatroom.limits import Limits, Rate
from tests.support.chatting import caughtUp, login, receive, settle
from tests.support.memory import MemoryChat
from tests.support.wire import TestClient as WireClient, WireError

LOTS = Rate(100000, 100000)


async def server(make_chat, **limits):
    return await make_chat(limits=Limits(**limits))


async def connectFrom(chat, address):
    """
    A client of C{chat}'s main port whose connection comes from C{address}
    (over TCP, any 127.x.y.z works on Linux without configuration).
    """
    if isinstance(chat, MemoryChat):
        return await chat.client(host=address)
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", chat.port, bindAddress=(address, 0))
    client = await connectProtocol(endpoint, WireClient())
    chat.clients.append(client)
    return client


@pytest_twisted.ensureDeferred
async def test_sendsOverTheLimitRefusedAndNotStored(make_chat):
    """
    The user's fourth message within the burst gets C{rate_limited} with a
    C{retry_after} in milliseconds; it is neither delivered nor stored, and
    after waiting that long the user may send again.  C{group.send} shares
    the bucket.
    """
    chat = await server(make_chat, sends=Rate(3, 2))
    alice = await chat.user("阿丽")
    bob = await chat.user("bob")
    for i in range(3):
        await alice.request("send", to="bob", text="消息 %d 🎉" % (i,))
    with pytest.raises(WireError) as caught:
        await alice.request("send", to="bob", text="one too many 🚫")
    reply = caught.value.reply
    assert reply["code"] == "rate_limited"
    assert isinstance(reply["retry_after"], int) and 0 < reply["retry_after"] <= 500
    with pytest.raises(WireError) as caught:
        await alice.request("group.send", group="lobby", text="大家好")
    assert caught.value.code == "rate_limited"
    # Other requests are not messages.
    await alice.request("ping")
    history = await bob.request("history", **{"with": "阿丽"})
    assert [m["text"] for m in history["messages"]] == ["消息 0 🎉", "消息 1 🎉", "消息 2 🎉"]
    lobby = await bob.request("history", group="lobby")
    assert lobby["messages"] == []
    await receive(bob, 3)
    await settle(bob, 0.1)
    assert [m["text"] for m in bob.messages()] == ["消息 0 🎉", "消息 1 🎉", "消息 2 🎉"]
    # Bob has his own bucket.
    await bob.request("send", to="阿丽", text="ok 👍")
    await chat.wait(reply["retry_after"] / 1000.0)
    await alice.request("send", to="bob", text="again ✅")


@pytest_twisted.ensureDeferred
async def test_requestsPerConnectionOverTheWire(make_chat):
    chat = await server(make_chat, requests=Rate(5, 1))
    client = await chat.client()
    results = []
    for _ in range(8):
        try:
            await client.request("ping")
            results.append("ok")
        except WireError as e:
            results.append((e.code, e.reply["retry_after"] > 0))
    assert results == ["ok"] * 5 + [("rate_limited", True)] * 3
    # The connection is still usable, and another one is not affected.
    other = await chat.client()
    await other.request("ping")


@pytest_twisted.ensureDeferred
async def test_guessingFromOneAddressDoesNotLockOutAnother(make_chat):
    """
    Wrong passwords from 127.0.0.2 get C{auth_failed} and then
    C{rate_limited} (even with the right password), while the real user
    logs in at once from 127.0.0.1.
    """
    chat = await server(
        make_chat, loginFailures=Rate(3, 0.05), addressFailures=Rate(5, 0.05),
        nameFailures=Rate(3, 0.05), limitLoopback=True,
    )
    owner = await chat.client()
    await owner.request("register", user="张三", password="正确的密码")
    attacker = await connectFrom(chat, "127.0.0.2")
    codes = []
    for guess in ("a", "b", "c", "d"):
        try:
            await attacker.request("login", user="张三", password=guess)
        except WireError as e:
            codes.append(e.code)
    assert codes == ["auth_failed"] * 3 + ["rate_limited"]
    with pytest.raises(WireError) as caught:
        await attacker.request("login", user="张三", password="正确的密码")
    assert caught.value.code == "rate_limited"
    assert caught.value.reply["retry_after"] > 1000
    reply = await owner.request("login", user="张三", password="正确的密码")
    assert reply["user"] == "张三"
    # A fresh connection from the same place is still throttled.
    again = await connectFrom(chat, "127.0.0.2")
    with pytest.raises(WireError) as caught:
        await again.request("login", user="张三", password="正确的密码")
    assert caught.value.code == "rate_limited"


@pytest_twisted.ensureDeferred
async def test_connectionsOverTheLimitRefusedPolitely(make_chat):
    chat = await server(make_chat, maxPerAddress=2, limitLoopback=True)
    await chat.client()
    await chat.client()
    refused = await chat.client()
    await chat.until(lambda: not refused.connected)
    [reply] = refused.replies
    assert reply["type"] == "error" and reply["code"] == "unavailable"
    assert "too many connections" in reply["message"]
    # Another address is not affected.
    other = await connectFrom(chat, "127.0.0.3")
    await other.request("ping")


def shrinkBuffers(chat, client, user, receiver=True):
    """
    Make the kernel buffer little between the server and C{client}, so that
    unread bytes pile up in the server's process quickly.  With
    C{receiver=False} only the server's side: a tiny receive buffer makes
    the kernel slow to reopen its window once the client reads again
    (zero-window probes back off), which a test that goes on reading
    cannot afford.  In memory there is no kernel between: every byte the
    client has not read is already the server's.
    """
    if isinstance(chat, MemoryChat):
        return
    if receiver:
        client.transport.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    for session in chat.service.sessions:
        if session.user == user:
            session.protocol.transport.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)


@pytest_twisted.ensureDeferred
async def test_stalledClientDisconnectedAndGetsEverythingLater(make_chat):
    """
    A client that stops reading while a friend floods it is disconnected
    once its unread bytes pass the bound; the friend's sends are all
    acknowledged, another user is served meanwhile, and at the next login
    the stalled user gets every message, none missing, none twice.
    """
    chat = await server(make_chat, maxBuffer=64 * 1024, sends=None, requests=None)
    alice = await chat.user("alice")
    bob = await chat.user("鲍勃")
    carol = await chat.user("carol")
    await chat.until(lambda: sum(1 for s in chat.service.sessions if s.user == "鲍勃") == 1)
    shrinkBuffers(chat, bob, "鲍勃")
    bob.transport.pauseProducing()
    text = "慢慢读 🐢 " * 1000
    sent = []
    for i in range(200):
        reply = await alice.request("send", to="鲍勃", text="%d %s" % (i, text))
        sent.append(reply["msg_id"])
        if not any(s.user == "鲍勃" for s in chat.service.sessions) and len(sent) >= 10:
            break
    assert not any(s.user == "鲍勃" for s in chat.service.sessions), "the stalled client was not disconnected"
    # Others are served as usual.
    await alice.request("send", to="carol", text="还在吗? 👋")
    event = await carol.event(type="message", timeout=2)
    assert event["text"] == "还在吗? 👋"
    for i in range(3):
        reply = await alice.request("send", to="鲍勃", text="after %d 📨" % (i,))
        sent.append(reply["msg_id"])
    assert reply["status"] == "stored"
    bob.transport.resumeProducing()
    await chat.until(lambda: not bob.connected)

    back = await chat.user("鲍勃", register=False)
    # Everything read before caughtUp's ping: a reply written behind more
    # than maxBuffer unread bytes closes the connection.
    await receive(back, len(sent))
    await caughtUp(chat, back)
    got = back.messages()
    assert [m["msg_id"] for m in got] == sent
    assert all(m["offline"] for m in got)
    assert got[-1]["text"] == "after 2 📨"


@pytest_twisted.ensureDeferred
async def test_slowBacklogReaderNotDisconnected(make_chat):
    """
    Missed messages far larger than the buffer bound are pushed to a
    client that reads them slowly (it even stops reading for a while)
    without disconnecting it: the push waits for the transport.
    """
    chat = await server(make_chat, maxBuffer=64 * 1024, sends=None, requests=None)
    alice = await chat.user("alice")
    register = await chat.client()
    await register.request("register", user="bob", password="secret")
    text = "😀" * 8000
    sent = []
    for i in range(60):
        sent.append((await alice.request("send", to="bob", text="%d %s" % (i, text)))["msg_id"])
    bob = await chat.client()
    # Not reading from before the login on: the push starts against a
    # client that takes nothing.
    bob.transport.pauseProducing()
    bob.sendObject({"type": "login", "user": "bob", "password": "secret", "id": "login"})
    await chat.until(lambda: any(s.user == "bob" for s in chat.service.sessions))
    shrinkBuffers(chat, bob, "bob", receiver=False)
    await chat.wait(0.5)
    assert any(s.user == "bob" for s in chat.service.sessions)
    bob.transport.resumeProducing()
    # Everything read before caughtUp's ping (see above).
    await receive(bob, len(sent))
    await caughtUp(chat, bob)
    assert [r for r in bob.replies if r.get("id") == "login"] == [
        {"type": "ok", "id": "login", "user": "bob", "name": "bob", "online": 2},
    ]
    assert [m["msg_id"] for m in bob.messages()] == sent
    assert bob.connected
    await bob.request("ping")


async def expectError(client, code, kind, **fields):
    with pytest.raises(WireError) as e:
        await client.request(kind, **fields)
    assert e.value.code == code, (kind, fields, e.value.reply)
    return e.value.reply


async def loginCodes(client, user, passwords):
    """
    Log in as C{user} with each of C{passwords} in turn: C{"ok"} or the
    error code of each.
    """
    codes = []
    for password in passwords:
        try:
            await client.request("login", user=user, password=password)
            codes.append("ok")
        except WireError as e:
            codes.append(e.code)
    return codes


# Login throttling by (user, address), and its backstop.


@pytest_twisted.ensureDeferred
async def test_failedLoginsForOneUserStopOnlyThatUserThere(make_chat):
    """
    With the default throttle, ten failed logins for alice from one
    address make the next attempt for alice from there wait, but bob logs
    in from the same address, and alice from another one.
    """
    chat = await server(make_chat, limitLoopback=True)
    setup = await chat.client()
    await setup.request("register", user="alice", password="她的密码")
    await setup.request("register", user="bob", password="his password")
    attacker = await connectFrom(chat, "127.0.0.2")
    codes = await loginCodes(attacker, "alice", ["guess %d" % (i,) for i in range(10)] + ["她的密码"])
    assert codes == ["auth_failed"] * 10 + ["rate_limited"]
    assert attacker.replies[-1]["retry_after"] > 9000
    bob = await connectFrom(chat, "127.0.0.2")
    assert (await bob.request("login", user="bob", password="his password"))["user"] == "bob"
    alice = await connectFrom(chat, "127.0.0.3")
    assert (await alice.request("login", user="alice", password="她的密码"))["user"] == "alice"


@pytest_twisted.ensureDeferred
async def test_loginBackstopAtItsOwnRate(make_chat):
    """
    Failures for alice from two addresses spend her per-user backstop: an
    address that failed waits for the backstop's next token (half a second
    here; its own bucket refills far slower), then gets in; an address
    that never failed gets in at once.
    """
    chat = await server(make_chat, loginFailures=Rate(3, 0.001), addressFailures=None, nameFailures=Rate(4, 2))
    setup = await chat.client()
    await setup.request("register", user="alice", password="right")
    first = await connectFrom(chat, "127.0.0.2")
    second = await connectFrom(chat, "127.0.0.3")
    assert await loginCodes(first, "alice", ["x", "y"]) == ["auth_failed"] * 2
    assert await loginCodes(second, "alice", ["x", "y"]) == ["auth_failed"] * 2
    reply = await expectError(first, "rate_limited", "login", user="alice", password="right")
    assert 0 < reply["retry_after"] <= 500
    clean = await connectFrom(chat, "127.0.0.5")
    assert (await clean.request("login", user="alice", password="right"))["user"] == "alice"
    await chat.wait(reply["retry_after"] / 1000.0 + 0.01)
    assert (await first.request("login", user="alice", password="right"))["user"] == "alice"


# Connections not logged in yet.


@pytest_twisted.ensureDeferred
async def test_notLoggedInInTimeClosed(make_chat):
    """
    A connection that has not logged in within the login timeout is told
    so (C{unavailable}, no id) and closed, although it kept sending
    C{ping}; a connection that logged in stays.
    """
    chat = await server(make_chat, loginTimeout=2)
    alice = await chat.user("alice")
    anonymous = await chat.client()
    for _ in range(3):
        await anonymous.request("ping")
        await chat.wait(0.3)
    assert anonymous.connected
    await chat.until(lambda: not anonymous.connected, timeout=5)
    assert anonymous.replies[-1] == {
        "type": "error", "code": "unavailable",
        "message": "not logged in within 2 seconds, closing the connection",
    }
    await chat.wait(0.5)
    await alice.request("ping")
    assert chat.service.sessions.waitingForLogin() == 0


@pytest_twisted.ensureDeferred
async def test_connectionsWaitingToLogInRefused(make_chat):
    """
    Past the budget of connections not logged in from one address, a new
    one is refused politely; another address is not affected, and a
    connection that logs in makes room.
    """
    chat = await server(make_chat, maxPreLoginPerAddress=2, limitLoopback=True)
    first = await connectFrom(chat, "127.0.0.2")
    second = await connectFrom(chat, "127.0.0.2")
    await first.request("ping")
    await second.request("ping")
    refused = await connectFrom(chat, "127.0.0.2")
    await chat.until(lambda: not refused.connected)
    assert refused.replies == [{
        "type": "error", "code": "unavailable",
        "message": "too many connections from your address waiting to log in (2), log in on those first",
    }]
    other = await connectFrom(chat, "127.0.0.3")
    await other.request("ping")
    await first.request("register", user="阿丽", password="secret")
    await first.request("login", user="阿丽", password="secret")
    again = await connectFrom(chat, "127.0.0.2")
    await again.request("ping")


@pytest_twisted.ensureDeferred
async def test_totalWaitingToLogInRefused(make_chat):
    chat = await server(make_chat, maxPreLogin=2)
    await (await chat.client()).request("ping")
    await (await chat.client()).request("ping")
    refused = await chat.client()
    await chat.until(lambda: not refused.connected)
    assert refused.replies[0]["message"] == "too many connections waiting to log in (2), try again later"


# IPv6 addresses, by /64 (in memory: the peers are IPv6Address objects).


@pytest.mark.stores("memory")
@pytest_twisted.ensureDeferred
async def test_ipv6ByNetwork(make_chat):
    """
    Connections, registrations and failed logins from addresses of one
    IPv6 /64 count as from one address; another /64 is another address.
    """
    chat = await server(
        make_chat, maxPerAddress=2, registrations=Rate(2, 0.001), loginFailures=Rate(2, 0.001),
        addressFailures=None,
    )
    a = await chat.client(host="2001:db8:1:2::a")
    b = await chat.client(host="2001:db8:1:2:ffff:ffff:ffff:ffff")
    refused = await chat.client(host="2001:db8:1:2::c")
    await chat.until(lambda: not refused.connected)
    assert refused.replies[0]["message"] == "too many connections from your address (2), try again later"
    await a.request("register", user="alice", password="right")
    await b.request("register", user="bob", password="right")
    await expectError(b, "rate_limited", "register", user="carol", password="right")
    assert await loginCodes(a, "alice", ["x"]) == ["auth_failed"]
    assert await loginCodes(b, "alice", ["y", "right"]) == ["auth_failed", "rate_limited"]
    elsewhere = await chat.client(host="2001:db8:1:3::a")
    await elsewhere.request("register", user="carol", password="right")
    assert (await elsewhere.request("login", user="alice", password="right"))["user"] == "alice"
    # An IPv4-mapped address is its IPv4 address.
    await chat.client(host="203.0.113.9")
    await chat.client(host="::ffff:203.0.113.9")
    refused = await chat.client(host="203.0.113.9")
    await chat.until(lambda: not refused.connected)
    assert refused.replies[0]["code"] == "unavailable"


# Groups per user and members per group.


@pytest_twisted.ensureDeferred
async def test_groupsPerUserCapped(make_chat):
    """
    A user in as many groups as allowed (the lobby counts) cannot create
    or join another (C{bad_request}, nothing changed) until leaving one;
    joining or creating a group the user is in already is answered as
    before.
    """
    chat = await server(make_chat, maxGroupsPerUser=3)
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    await alice.request("group.create", group="一")
    await alice.request("group.create", group="二")
    reply = await expectError(alice, "bad_request", "group.create", group="三")
    assert reply["message"] == "field 'group': you are in 3 groups, the most allowed; leave one first"
    await bob.request("group.create", group="四")
    await expectError(alice, "bad_request", "group.join", group="四")
    assert (await alice.request("group.list"))["groups"] == sorted(["lobby", "一", "二"])
    assert (await bob.request("group.members", group="四"))["members"] == [
        {"user": "bob", "online": True, "role": "owner"}]
    # "三" was not made: bob may.
    await bob.request("group.create", group="三")
    await alice.request("group.join", group="一")
    await expectError(alice, "group_exists", "group.create", group="一")
    await alice.request("group.leave", group="二")
    await alice.request("group.join", group="四")
    assert (await bob.event(type="group", event="joined"))["user"] == "alice"
    assert (await alice.request("group.list"))["groups"] == sorted(["lobby", "一", "四"])


@pytest_twisted.ensureDeferred
async def test_groupMembersCapped(make_chat):
    """
    A group with as many members as allowed refuses another join
    (C{bad_request}, nothing changed: not in the group, not in the
    joiner's list, nobody told); the lobby has no cap.
    """
    chat = await server(make_chat, maxGroupMembers=2)
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    carol = await chat.user("carol")
    await alice.request("group.create", group="小组")
    await bob.request("group.join", group="小组")
    await alice.event(type="group", event="joined")
    reply = await expectError(carol, "bad_request", "group.join", group="小组")
    assert reply["message"] == "field 'group': that group is full (2 members, the most allowed)"
    assert (await carol.request("group.list"))["groups"] == ["lobby"]
    members = (await alice.request("group.members", group="小组"))["members"]
    assert [m["user"] for m in members] == ["alice", "bob"]
    await expectError(carol, "not_member", "group.send", group="小组", text="让我进去")
    await settle(alice)
    assert [e for e in alice.events if e.get("type") == "group"] == []
    # A member joining again is no new member.
    await bob.request("group.join", group="小组")
    # The lobby has three members, and takes a fourth, and one back.
    await chat.user("dave")
    lobby = (await alice.request("group.members", group="lobby"))["members"]
    assert len(lobby) == 4
    await carol.request("group.leave", group="lobby")
    await carol.request("group.join", group="lobby")
    # Room made by a leave.
    await bob.request("group.leave", group="小组")
    await carol.request("group.join", group="小组")


@pytest_twisted.ensureDeferred
async def test_groupCapsHoldWhenJoinsRace(make_chat):
    """
    Joins sent together, from several users for the last places of a
    group, and from one user's two connections for the last place under
    that user's cap, never pass the caps.
    """
    chat = await server(make_chat, maxGroupMembers=3, maxGroupsPerUser=3)
    owner = await chat.user("owner")
    await owner.request("group.create", group="热门")
    joiners = [await chat.user("user%d" % (i,)) for i in range(6)]
    results = await defer.DeferredList(
        [j.request("group.join", group="热门") for j in joiners], consumeErrors=True)
    ok = [success for success, _ in results]
    assert ok.count(True) == 2
    for success, result in results:
        if not success:
            assert result.value.code == "bad_request"
    members = (await owner.request("group.members", group="热门"))["members"]
    assert len(members) == 3

    await owner.request("group.create", group="甲")
    maker = await chat.user("maker")
    await maker.request("group.create", group="乙")
    await maker.request("group.create", group="丙")
    racer = await chat.user("racer")
    second = await login(chat, "racer")
    await racer.request("group.join", group="甲")
    results = await defer.DeferredList(
        [racer.request("group.join", group="乙"), second.request("group.join", group="丙")], consumeErrors=True)
    assert [success for success, _ in results].count(True) == 1
    assert len((await racer.request("group.list"))["groups"]) == 3
