"""
Missed messages pushed at login, read positions and acks, on both stores
(a real Redis over loopback TCP, and the in-memory store): the Delivery
guarantees of PROTOCOL.md.
"""

import time

import pytest
import pytest_twisted
from twisted.internet import defer, task

from chatroom.connections import pendingBytes
from tests.support.chatting import caughtUp, ids, login, logout, offline, receive, sendMany, sessionOf
from tests.support.wire import WireError

pytestmark = pytest.mark.stores("memory", "redis")


async def storeMany(chat, sender, recipient, count, text="离线消息 {i} 📨", chunk=500):
    """
    Store C{count} direct messages through the server's own store (fast
    setup for large backlogs); their msg_ids in order.
    """
    msgIds = []
    for start in range(0, count, chunk):
        stored = await defer.gatherResults(
            [defer.ensureDeferred(chat.service.store.messages.sendDirect(sender, recipient, text.format(i=i)))
             for i in range(start, min(count, start + chunk))],
            consumeErrors=True,
        )
        msgIds.extend(s.msgId for s in stored)
    return msgIds


def assertNoRepeats(client):
    seen = [(e.get("to") or e.get("group"), e.get("from"), e["msg_id"]) for e in offline(client)]
    assert len(seen) == len(set(seen)), "a connection received a message twice"


@pytest_twisted.ensureDeferred
async def test_offline_order_across_direct_and_group_conversations(chat):
    """
    Missed messages come oldest first over all conversations, each marked
    offline, with only other users' messages.
    """
    bob = await chat.user("bob")
    await bob.request("group.create", group="茶馆")
    alice = await chat.user("alice")
    carol = await chat.user("carol")
    await alice.request("group.join", group="茶馆")
    await carol.request("group.join", group="茶馆")
    await logout(chat, bob)
    sent = []
    # A msg_id (and ts) has millisecond resolution and is unique only in its
    # conversation: space the sends so that "oldest first" is one order.
    for i in range(6):
        for where, client, kind, fields in [
            ("alice", alice, "send", {"to": "bob"}),
            ("茶馆", carol, "group.send", {"group": "茶馆"}),
            ("carol", carol, "send", {"to": "bob"}),
            ("lobby", alice, "group.send", {"group": "lobby"}),
        ]:
            sent.append((where, await client.request(kind, text="%s %d 🍵" % (where, i), **fields)))
            await chat.wait(0.003)
    bob = await login(chat, "bob")
    events = await receive(bob, len(sent))
    await caughtUp(chat, bob)
    events = offline(bob)
    assert [e["msg_id"] for e in events] == [ok["msg_id"] for _, ok in sent]
    assert all(e["offline"] is True for e in events)
    assert [e.get("group") or e["from"] for e in events] == [where for where, _ in sent]
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)


@pytest_twisted.ensureDeferred
async def test_own_messages_are_not_pushed_back(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    await alice.request("send", to="bob", text="mine")
    await alice.request("group.send", group="lobby", text="mine too")
    theirs = await bob.request("send", to="alice", text="theirs")
    await logout(chat, alice)
    alice = await login(chat, "alice")
    await receive(alice, 1)
    await caughtUp(chat, alice)
    assert ids(offline(alice)) == [theirs["msg_id"]]


@pytest_twisted.ensureDeferred
async def test_unacked_messages_are_pushed_again(chat):
    """
    Stored messages not acked come again at every login, and so does a
    message that was delivered live but never acked.
    """
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    live = await alice.request("send", to="bob", text="live 在线")
    glive = await alice.request("group.send", group="lobby", text="group live 群")
    await receive(bob, 2)
    await logout(chat, bob)
    stored = await alice.request("send", to="bob", text="stored 存储")
    expected = [live["msg_id"], glive["msg_id"], stored["msg_id"]]
    for _ in range(2):
        bob = await login(chat, "bob")
        await receive(bob, 3)
        await caughtUp(chat, bob)
        assert ids(offline(bob)) == expected
        assert all(e["offline"] for e in offline(bob))
        await logout(chat, bob)


@pytest_twisted.ensureDeferred
async def test_partial_ack(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    await logout(chat, bob)
    oks = await sendMany(alice, 10, to="bob")
    goks = await sendMany(alice, 4, kind="group.send", group="lobby")
    bob = await login(chat, "bob")
    await receive(bob, 14)
    await bob.request("ack", upto=oks[4]["msg_id"], **{"with": "alice"})
    await bob.request("ack", upto=goks[1]["msg_id"], group="lobby")
    await logout(chat, bob)
    bob = await login(chat, "bob")
    await receive(bob, 7)
    await caughtUp(chat, bob)
    assert sorted(ids(offline(bob))) == sorted(ids(oks[5:]) + ids(goks[2:]))
    # Acking everything leaves nothing to push.
    await bob.request("ack", upto=oks[-1]["msg_id"], **{"with": "alice"})
    await bob.request("ack", upto=goks[-1]["msg_id"], group="lobby")
    await logout(chat, bob)
    bob = await login(chat, "bob")
    await caughtUp(chat, bob)
    assert offline(bob) == []


@pytest_twisted.ensureDeferred
async def test_ack_never_moves_backwards(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    oks = await sendMany(alice, 6, to="bob")
    # msg_ids of two conversations in the same millisecond have no order:
    # the group's come later, so that oldest first is one order.
    await chat.wait(0.003)
    goks = await sendMany(alice, 6, kind="group.send", group="lobby")
    await receive(bob, 12)
    await bob.request("ack", upto=oks[3]["msg_id"], **{"with": "alice"})
    await bob.request("ack", upto=oks[0]["msg_id"], **{"with": "alice"})
    await bob.request("ack", upto=goks[3]["msg_id"], group="lobby")
    await bob.request("ack", upto=goks[1]["msg_id"], group="lobby")
    await logout(chat, bob)
    bob = await login(chat, "bob")
    await receive(bob, 4)
    await caughtUp(chat, bob)
    assert ids(offline(bob)) == ids(oks[4:]) + ids(goks[4:])


@pytest_twisted.ensureDeferred
async def test_ack_errors(chat):
    alice = await chat.user("alice")
    await chat.user("bob")
    ok = await alice.request("send", to="bob", text="x")
    for fields, code in [
        ({"with": "nobody"}, "no_such_user"),
        ({"group": "nogroup"}, "no_such_group"),
        ({}, "bad_request"),
        ({"with": "bob", "group": "lobby"}, "bad_request"),
    ]:
        with pytest.raises(WireError) as e:
            await alice.request("ack", upto=ok["msg_id"], **fields)
        assert e.value.code == code, fields
    with pytest.raises(WireError) as e:
        await alice.request("ack", upto="not-an-id", **{"with": "bob"})
    assert e.value.code == "bad_request"
    await alice.request("group.create", group="其他")
    bob = await login(chat, "bob")
    with pytest.raises(WireError) as e:
        await bob.request("ack", upto=ok["msg_id"], group="其他")
    assert e.value.code == "not_member"


@pytest_twisted.ensureDeferred
async def test_second_device_gets_what_the_first_did_not_ack(chat):
    alice = await chat.user("alice")
    bob1 = await chat.user("bob")
    oks = await sendMany(alice, 6, to="bob")
    await receive(bob1, 6)
    await bob1.request("ack", upto=oks[2]["msg_id"], **{"with": "alice"})
    bob2 = await login(chat, "bob")
    await receive(bob2, 3)
    await caughtUp(chat, bob2)
    assert ids(offline(bob2)) == ids(oks[3:])
    assert all(e["offline"] for e in offline(bob2))


@pytest_twisted.ensureDeferred
async def test_disconnect_mid_delivery_loses_nothing(chat):
    """
    A client with 3,000 pending messages that drops after a few hundred
    gets every unacked one at its next login; with an ack before dropping,
    exactly the rest.
    """
    await chat.user("alice")
    await chat.user("carol")
    bob = await chat.user("bob")
    await logout(chat, bob)
    fromAlice = await storeMany(chat, "alice", "bob", 2000)
    fromCarol = await storeMany(chat, "carol", "bob", 1000, text="卡罗尔 {i} 🐚")
    everything = set(fromAlice) | set(fromCarol)

    bob = await login(chat, "bob")
    await receive(bob, 300)
    bob.transport.abortConnection()
    await bob.closed
    await chat.until(lambda: "bob" not in chat.service.registry)

    bob = await login(chat, "bob")
    events = await receive(bob, 3000, timeout=20)
    assert set(ids(events)) == everything
    assertNoRepeats(bob)
    # Each conversation in its own order.
    assert [e["msg_id"] for e in events if e["from"] == "alice"] == fromAlice
    assert [e["msg_id"] for e in events if e["from"] == "carol"] == fromCarol

    # Ack a prefix of what arrived, drop mid-delivery again: only the rest.
    await logout(chat, bob)
    bob = await login(chat, "bob")
    got = await receive(bob, 500)
    lastAlice = [e for e in got if e["from"] == "alice"][-1]["msg_id"]
    await bob.request("ack", upto=lastAlice, **{"with": "alice"})
    bob.transport.abortConnection()
    await bob.closed
    await chat.until(lambda: "bob" not in chat.service.registry)
    bob = await login(chat, "bob")
    rest = fromAlice[fromAlice.index(lastAlice) + 1:] + fromCarol
    events = await receive(bob, len(rest), timeout=20)
    await caughtUp(chat, bob)
    assert sorted(ids(offline(bob))) == sorted(rest)
    assertNoRepeats(bob)


@pytest_twisted.ensureDeferred
async def test_message_sent_live_during_backlog_push_comes_once(chat):
    """
    A message sent while a connection's missed messages are being pushed
    reaches it live and is not pushed again by the backlog.
    """
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    await logout(chat, bob)
    # 18 MB: more than the kernel's socket buffers hold.
    old = await storeMany(chat, "alice", "bob", 3000, text="旧 {i} " + "填" * 2000)
    # Stop reading before the login, so that the push stalls at once, then
    # send live messages.
    bob = await chat.client()
    bob.transport.pauseProducing()
    bob.sendObject({"type": "login", "user": "bob", "password": "secret", "id": "login"})
    session = sessionOf(chat, bob)
    await chat.until(lambda: session.user == "bob" and chat.service.delivery.isCatchingUp(session))
    live = await sendMany(alice, 20, to="bob")
    glive = await sendMany(alice, 5, kind="group.send", group="lobby")
    assert chat.service.delivery.isCatchingUp(session), "the push finished before the live messages; make it longer"
    bob.transport.resumeProducing()
    await receive(bob, 3025, timeout=20)
    await caughtUp(chat, bob)
    assertNoRepeats(bob)
    got = ids(offline(bob))
    assert sorted(got) == sorted(old + ids(live) + ids(glive))
    # The backlog part is oldest first.
    backlog = [e["msg_id"] for e in offline(bob) if e.get("offline")]
    assert backlog == [m for m in old if m in backlog]


@pytest_twisted.ensureDeferred
async def test_every_connection_gets_its_own_backlog_once(chat):
    """
    Two devices logging in at once each get every missed message once.
    """
    await chat.user("alice")
    bob = await chat.user("bob")
    await logout(chat, bob)
    old = await storeMany(chat, "alice", "bob", 1000)
    bob1, bob2 = await defer.gatherResults(
        [defer.ensureDeferred(login(chat, "bob")), defer.ensureDeferred(login(chat, "bob"))]
    )
    for client in (bob1, bob2):
        await receive(client, 1000, timeout=20)
    for client in (bob1, bob2):
        await caughtUp(chat, client)
        assertNoRepeats(client)
        assert ids(offline(client)) == old



class BufferPeak:
    """
    The most a transport held unsent, sampled every 5 ms until L{stop}.
    """

    def __init__(self, transport):
        self.transport = transport
        self.peak = 0
        self._loop = task.LoopingCall(self._sample)
        self._loop.start(0.005)

    def _sample(self):
        self.peak = max(self.peak, pendingBytes(self.transport))

    def stop(self):
        self._loop.stop()


# Kernel socket buffers, the server's transport sampled in real time, and
# other users served while the push runs: only real TCP has them.
@pytest.mark.stores("redis")
@pytest_twisted.ensureDeferred
async def test_backlog_push_respects_backpressure(chat):
    """
    5,000 pending messages of 6 KB each (30 MB) to a client that stops
    reading: the server's buffer for it stays bounded; once it reads again
    it gets all of them, and other users are served meanwhile.
    """
    count, text = 5000, "背压测试 {i} " + "压" * 2000
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    await logout(chat, bob)
    old = await storeMany(chat, "alice", "bob", count, text=text)
    total = count * len(text.encode("utf-8"))

    bob = await login(chat, "bob")
    bob.transport.pauseProducing()
    session = sessionOf(chat, bob)
    transport = session.protocol.transport
    sampler = BufferPeak(transport)
    try:
        await chat.wait(1.5)
        stalled = sampler.peak
        assert chat.service.delivery.isCatchingUp(session), "the push should be stalled on the paused client"
        # Another user's requests are answered while the push waits.
        started = time.monotonic()
        await alice.request("ping")
        assert time.monotonic() - started < 0.5

        bob.transport.resumeProducing()
        latencies = []
        while len(offline(bob)) < count and chat.service.delivery.isCatchingUp(session):
            started = time.monotonic()
            await alice.request("ping")
            latencies.append(time.monotonic() - started)
            await chat.wait(0.02)
        await receive(bob, count, timeout=30)
    finally:
        sampler.stop()
    assert stalled < total / 5, (stalled, total)
    assert sampler.peak < total / 5, (sampler.peak, total)
    assert latencies and max(latencies) < 0.5, latencies
    assert ids(offline(bob)) == old


# The transport's buffer sampled in real time while the push waits on a full
# socket: only real TCP has them.
@pytest.mark.stores("redis")
@pytest_twisted.ensureDeferred
async def test_switching_user_mid_push_keeps_backpressure_and_no_repeats(chat):
    """
    A connection that logs in as another user while its first user's
    missed messages are still being pushed: the second push also waits for
    the client, and a message sent live meanwhile still comes once.
    """
    count, text = 2500, "切换 {i} " + "换" * 2000
    alice = await chat.user("alice")
    await chat.user("carol")
    bob = await chat.user("bob")
    await logout(chat, bob)
    await storeMany(chat, "alice", "bob", count, text=text)
    carolOld = await storeMany(chat, "alice", "carol", count, text=text)
    total = count * len(text.encode("utf-8"))

    client = await login(chat, "bob")
    client.transport.pauseProducing()
    session = sessionOf(chat, client)
    transport = session.protocol.transport
    await chat.wait(0.5)
    # Switch to carol on the same connection while bob's push is stalled.
    switched = client.request("login", user="carol", password="secret")
    await chat.until(lambda: session.user == "carol")
    sampler = BufferPeak(transport)
    try:
        await chat.wait(1.0)
        live = await alice.request("send", to="carol", text="实时 ⚡")
        client.transport.resumeProducing()
        await switched
        await chat.until(lambda: sum(1 for e in offline(client) if e["to"] == "carol") >= count + 1, timeout=30)
        await caughtUp(chat, client)
    finally:
        sampler.stop()
    assert sampler.peak < total / 5, (sampler.peak, total)
    toCarol = [e["msg_id"] for e in offline(client) if e["to"] == "carol"]
    assert sorted(toCarol) == sorted(carolOld + [live["msg_id"]])
    assert [m for m in toCarol if m != live["msg_id"]] == carolOld


@pytest_twisted.ensureDeferred
async def test_redis_lost_during_the_push_is_a_warning_not_a_traceback(chat, monkeypatch):
    """
    When Redis goes away while missed messages are pushed, the rest stays
    pending; the server logs a warning, not a failure with a traceback.
    """
    from twisted.internet import defer
    from twisted.logger import globalLogPublisher

    from chatroom import errors

    events = []
    globalLogPublisher.addObserver(events.append)
    try:
        monkeypatch.setattr(chat.service.store.messages, "unread", lambda user: defer.fail(errors.Unavailable()))
        alice = await chat.user("alice")
        await caughtUp(chat, alice)
    finally:
        globalLogPublisher.removeObserver(events.append)
    assert not [e for e in events if "log_failure" in e]
    assert [e for e in events if "pushing missed messages" in e.get("log_format", "")]
