"""
Redis outages: a real redis-server of the test's own (not the session-wide
one) is stopped, frozen, restarted and emptied under a running server.
While it is away every request that needs it gets ``unavailable`` at once;
when it is back the same connections work again, with nothing half-written
and the online users counted right.
"""

import glob
import os
import signal
import time

import pytest
import pytest_twisted
from twisted.logger import globalLogPublisher

import txredisapi

from chatroom.store import keys
from chatroom.store.connection import CommandProtocol
from chatroom.store.scripts import SCRIPTS
from tests.support.chatting import sessionOf
from tests.support.servers import RedisProcess, startChatServer
from tests.support.wire import WireError, until, wait


@pytest.fixture
def own_redis():
    """
    A redis-server of this test alone, so stopping it leaves the others be.
    """
    process = RedisProcess()
    process.start()
    yield process
    if process.process is not None:
        # Never leave it frozen: SIGTERM would wait for SIGCONT.
        process.process.send_signal(signal.SIGCONT)
    process.stop()


@pytest_twisted.async_yield_fixture
async def server(own_redis):
    """
    A chatroom server on L{own_redis}.
    """
    server = await startChatServer(own_redis)
    yield server
    await server.stop()


@pytest.fixture
def logged():
    """
    The log events emitted during the test.
    """
    events = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


async def failsQuickly(client, type, limit=1.0, **fields):
    """
    Send a request that must fail with C{unavailable} within C{limit}
    seconds.
    """
    started = time.monotonic()
    with pytest.raises(WireError) as e:
        await client.request(type, **fields)
    elapsed = time.monotonic() - started
    assert e.value.code == "unavailable", e.value.reply
    assert elapsed < limit, "%s took %.2f s to fail" % (type, elapsed)


def restart(redis):
    """
    Start redis-server again on its directory (its append-only file holds
    everything acknowledged before it stopped).
    """
    redis.start()


def empty(redis):
    """
    Throw away a stopped redis-server's data, as a Redis without
    persistence would lose it.
    """
    for path in glob.glob(os.path.join(redis.dir, "appendonly*")) + glob.glob(os.path.join(redis.dir, "*.rdb")):
        if os.path.isdir(path):
            for inner in os.listdir(path):
                os.unlink(os.path.join(path, inner))
        else:
            os.unlink(path)


async def online(client):
    reply = await client.request("users")
    return sorted(u["user"] for u in reply["users"])


def awaitingReply(link):
    """
    Whether a command of C{link} was written to Redis and is not answered.
    """
    return any(getattr(conn, "replyQueue", None) and conn.replyQueue.waiting for conn in link.factory.pool)


def recounted(logged):
    """
    Whether the node re-counted its users after reconnecting.
    """
    return any(e.get("log_format", "").startswith("Re-counted") for e in logged)


def countReaps(node, monkeypatch):
    """
    The list to which each reap of dead nodes that C{node} (a L{ChatServer})
    completes adds its result.
    """
    nodes = node.service.store.nodes
    reap, done = nodes.reap, []

    async def counted(*args):
        result = await reap(*args)
        done.append(result)
        return result

    monkeypatch.setattr(nodes, "reap", counted)
    return done


@pytest_twisted.ensureDeferred
async def test_requests_fail_at_once_while_redis_is_down_then_work_again(own_redis, server, logged):
    """
    Redis killed: send, login, register, users, history and group.send all
    get C{unavailable} within a second, and none of them leaves a trace.
    Redis back: the same connection sends again, without a restart, and
    the history holds exactly the acknowledged messages.
    """
    link = server.service.store.link
    alice = await server.user("小明")
    bob = await server.user("bob")
    first = await alice.request("send", to="bob", text="出发前 🚀")
    await bob.event(type="message", msg_id=first["msg_id"])

    own_redis.kill()
    await until(lambda: not link.connected, timeout=2)
    stranger = await server.client()
    await failsQuickly(alice, "send", to="bob", text="停电时 ⚡")
    await failsQuickly(alice, "group.send", group="lobby", text="停电时 ⚡")
    await failsQuickly(alice, "users")
    await failsQuickly(alice, "history", **{"with": "bob"})
    await failsQuickly(stranger, "login", user="bob", password="secret")
    await failsQuickly(stranger, "register", user="新人", password="secret")
    # Requests that need no Redis still work.
    await alice.request("ping")

    restart(own_redis)
    await until(lambda: link.connected, timeout=10)
    second = await alice.request("send", to="bob", text="恢复后 🌈")
    event = await bob.event(type="message", msg_id=second["msg_id"])
    assert event["text"] == "恢复后 🌈"
    history = await alice.request("history", **{"with": "bob"})
    assert [(m["msg_id"], m["text"]) for m in history["messages"]] == [
        (first["msg_id"], "出发前 🚀"), (second["msg_id"], "恢复后 🌈"),
    ]
    lobby = await bob.request("history", group="lobby")
    assert lobby["messages"] == []
    with pytest.raises(WireError) as e:
        await stranger.request("login", user="新人", password="secret")
    assert e.value.code == "auth_failed"
    await stranger.request("register", user="新人", password="secret")
    await stranger.request("login", user="新人", password="secret")
    assert await online(alice) == ["bob", "小明", "新人"]

    # The outage and the reconnection were logged, in that order.
    texts = [e.get("log_format", "") for e in logged]
    lost = [i for i, t in enumerate(texts) if t.startswith("Lost {name}")]
    assert lost
    assert any(t.startswith("Connected to {name}") for t in texts[lost[0]:])


@pytest_twisted.ensureDeferred
async def test_commands_in_flight_fail_when_the_connection_drops(own_redis, server):
    """
    Requests already written to Redis when it dies are answered with
    C{unavailable} as soon as the connection drops, not after a timeout.
    """
    alice = await server.user("alice")
    await server.user("bob")
    own_redis.process.send_signal(signal.SIGSTOP)
    pending = [alice.request("send", to="bob", text="悬而未决 %d ⏳" % i) for i in range(5)]
    # The first send is written to the frozen Redis, the others queued
    # behind it (a connection's requests are served in order).
    session = sessionOf(server, alice)
    await until(lambda: len(session._queue) == 4 and awaitingReply(server.service.store.link))
    assert not any(d.called for d in pending)
    started = time.monotonic()
    own_redis.kill()
    for d in pending:
        with pytest.raises(WireError) as e:
            await d
        assert e.value.code == "unavailable"
    assert time.monotonic() - started < 1.0


@pytest_twisted.ensureDeferred
async def test_a_frozen_redis_times_out_then_recovers(own_redis, server):
    """
    A Redis that stops answering (but keeps its socket) makes requests fail
    after the reply timeout; later requests fail at once until it answers
    again, and then everything works.
    """
    link = server.service.store.link
    alice = await server.user("alice")
    bob = await server.user("bob")
    link.setReplyTimeout(0.5)
    own_redis.process.send_signal(signal.SIGSTOP)
    try:
        await failsQuickly(alice, "send", to="bob", text="冻住了 🧊", limit=2.0)
        await failsQuickly(alice, "users", limit=0.5)
    finally:
        own_redis.process.send_signal(signal.SIGCONT)
    await until(lambda: link.connected, timeout=10)
    ok = await alice.request("send", to="bob", text="解冻 💧")
    event = await bob.event(type="message", msg_id=ok["msg_id"])
    assert event["text"] == "解冻 💧"
    history = await bob.request("history", **{"with": "alice"})
    # The timed-out send may or may not have been stored (Redis was only
    # slow); it is there whole or not at all.
    assert all(m["text"] in ("冻住了 🧊", "解冻 💧") for m in history["messages"])
    assert history["messages"][-1]["msg_id"] == ok["msg_id"]


@pytest_twisted.ensureDeferred
async def test_scripts_are_loaded_again_on_reconnection(own_redis, server):
    """
    A Redis restarted without its data has no Lua scripts; they are loaded
    before the new connection is used, so no request has to fall back to
    EVAL (which would run after commands sent later than it).
    """
    link = server.service.store.link
    own_redis.kill()
    await until(lambda: not link.connected, timeout=2)
    # (An append-only file keeps the scripts loaded before; an empty Redis
    # has none.)
    empty(own_redis)
    restart(own_redis)
    assert own_redis.command("SCRIPT", "EXISTS", SCRIPTS["send_direct"].sha) == b"*1\r\n:0\r\n"
    await until(lambda: link.connected, timeout=10)
    for script in SCRIPTS.values():
        assert own_redis.command("SCRIPT", "EXISTS", script.sha) == b"*1\r\n:1\r\n", script.name


@pytest_twisted.ensureDeferred
async def test_flushed_scripts_fall_back_to_eval(own_redis, server):
    """
    Scripts flushed behind the server's back (SCRIPT FLUSH) are sent again.
    """
    alice = await server.user("alice")
    bob = await server.user("bob")
    assert own_redis.command("SCRIPT", "FLUSH").startswith(b"+OK")
    ok = await alice.request("send", to="bob", text="脚本没了 📜")
    event = await bob.event(type="message", msg_id=ok["msg_id"])
    assert event["text"] == "脚本没了 📜"


@pytest_twisted.ensureDeferred
async def test_connections_closed_during_the_outage_are_counted_out(own_redis, server):
    """
    A user whose connection closed while Redis was away is offline once it
    is back (and its neighbours are told); one who stayed is still online.
    """
    link = server.service.store.link
    alice = await server.user("alice")
    bob = await server.user("鲍勃")
    own_redis.kill()
    await until(lambda: not link.connected, timeout=2)
    await bob.close()
    restart(own_redis)
    await alice.event(type="presence", user="鲍勃", status="offline", timeout=10)
    assert await online(alice) == ["alice"]


@pytest_twisted.ensureDeferred
async def test_live_users_are_counted_again_after_redis_lost_its_data(own_redis, server):
    """
    A Redis that comes back empty (no persistence) is told again who is
    connected to this node, and the lobby exists again.
    """
    link = server.service.store.link
    alice = await server.user("alice")
    bob = await server.user("鲍勃")
    own_redis.kill()
    await until(lambda: not link.connected, timeout=2)
    empty(own_redis)
    restart(own_redis)
    assert own_redis.command("EXISTS", keys.ONLINE) == b":0\r\n"
    await until(lambda: link.connected, timeout=10)
    await until(lambda: own_redis.command("ZCARD", keys.ONLINE) == b":2\r\n", timeout=5)
    assert await online(alice) == ["alice", "鲍勃"]
    assert own_redis.command("EXISTS", keys.group("lobby")) == b":1\r\n"
    # Logging out is counted right, too.
    await bob.request("logout")
    await until(lambda: own_redis.command("ZCARD", keys.ONLINE) == b":1\r\n", timeout=5)
    assert await online(alice) == ["alice"]


@pytest_twisted.ensureDeferred
async def test_recount_after_a_restart_with_data_counts_nobody_twice(own_redis, server, logged):
    """
    Redis comes back with its data: the re-count sets this node's numbers,
    it does not add to them, so a user with two connections goes offline
    when both are closed, not before and not never.
    """
    link = server.service.store.link
    watcher = await server.user("watcher")
    alice1 = await server.user("alice")
    alice2 = await server.user("alice", register=False)
    own_redis.kill()
    await until(lambda: not link.connected, timeout=2)
    restart(own_redis)
    await until(lambda: link.connected, timeout=10)
    await until(lambda: recounted(logged), timeout=5)
    assert own_redis.command("HGET", keys.locations("alice"), "test-node") == b"$1\r\n2\r\n"
    assert await online(watcher) == ["alice", "watcher"]
    await alice1.close()
    # Counted out: one connection of alice is left.
    await until(lambda: own_redis.command("HGET", keys.locations("alice"), "test-node") == b"$1\r\n1\r\n")
    assert await online(watcher) == ["alice", "watcher"]
    await alice2.close()
    await watcher.event(type="presence", user="alice", status="offline")
    assert await online(watcher) == ["watcher"]


@pytest_twisted.ensureDeferred
async def test_an_outage_longer_than_the_node_timeout_reaps_nobody_alive(own_redis, monkeypatch):
    """
    Two nodes, and Redis away for longer than the node timeout: when it is
    back, each node's liveness key has expired, and the other node may reap
    it; the users still connected to either node must stay online.
    """
    nodeA = await startChatServer(own_redis, node="node-a", nodeTimeout=1)
    nodeB = await startChatServer(own_redis, node="node-b", nodeTimeout=1)
    try:
        alice = await nodeA.user("alice")
        bob = await nodeB.user("鲍勃")
        await until(lambda: own_redis.command("ZCARD", keys.ONLINE) == b":2\r\n")
        # The outage outlasts both liveness keys: what they have left to
        # live (read just before the kill, as no heartbeat can run between;
        # a stopped Redis cannot be asked when they expire) is waited out.
        # Each node beats every 0.5 s with a 1 s time to live, so within
        # 0.5 s both keys have 0.75 s left or less (for a moment at worst;
        # 0.8 s is a window wide enough to catch): an outage that short ends
        # before the links' third reconnection attempt (backoff 0.1, 0.27,
        # 0.74 s...), not the fourth, two seconds later.
        def remaining():
            return max(int(own_redis.command("PTTL", keys.nodeAlive(node))[1:-2]) for node in ("node-a", "node-b"))

        await until(lambda: remaining() <= 800, timeout=2)
        left = remaining()
        assert 0 < left <= 800
        own_redis.kill()
        await wait(left / 1000.0 + 0.05)
        restart(own_redis)
        assert own_redis.command("EXISTS", keys.nodeAlive("node-a"), keys.nodeAlive("node-b")) == b":0\r\n"
        reaps = [countReaps(node, monkeypatch) for node in (nodeA, nodeB)]
        for node in (nodeA, nodeB):
            await until(lambda: node.service.store.link.connected, timeout=10)
        # A few heartbeats (every 0.5 s), reaps included: two each.
        await until(lambda: all(len(done) >= 2 for done in reaps), timeout=5)
        assert await online(alice) == ["alice", "鲍勃"]
        assert await online(bob) == ["alice", "鲍勃"]
    finally:
        await nodeB.stop()
        await nodeA.stop()


@pytest.mark.parametrize("args", [
    ("XADD", "{d:a|b}:stream", "MAXLEN", "~", 100000, "*", "f", "张三", "t", "你好 🙂"),
    ("EVALSHA", "0" * 40, 2, b"\x00\xff", bytearray(b"xy"), 1.5, -3, True, "", 0.1),
    ("PING",),
])
def test_commandBytes(args):
    """
    L{CommandProtocol} writes a command as the same bytes as txredisapi
    (its own builder is only faster).
    """
    assert CommandProtocol()._build_command(*args) == txredisapi.BaseRedisProtocol()._build_command(*args)
