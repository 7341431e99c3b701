"""
Limits over the wire, on the in-memory store and on a real Redis over
loopback TCP: C{rate_limited} replies with nothing stored, the login
throttle across two remote addresses, refused connections, and slow
consumers (disconnected, then everything pending at the next login).
"""

import socket

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

pytestmark = pytest.mark.stores("memory", "redis")

from chatroom.limits import Limits, Rate
from tests.support.chatting import caughtUp, receive, settle
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
