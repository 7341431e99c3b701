"""
Redis Cluster routing (L{chatroom.store.routing}) against a real cluster of
redis-server 7 processes on loopback: key slots, commands on the right
master, a slot moved under a working client (ASK, TRYAGAIN, MOVED), a
frozen master, a failover, sharded pub/sub, and the whole cluster down.
"""

import hashlib
import signal
import time
import types

import pytest
import pytest_twisted
import txredisapi
from twisted.internet import defer, reactor, task, threads

from chatroom import errors
from chatroom.store.routing import ClusterLink, keySlot
from chatroom.store.sharded import ClusterSubscriber
from tests.support.rediscluster import RedisCluster, command, findRedis7

_FOUND = findRedis7()
pytestmark = pytest.mark.skipif(isinstance(_FOUND, str), reason=str(_FOUND))

LOCAL = "127.0.0.1"


def sleep(seconds):
    return task.deferLater(reactor, seconds)


async def until(predicate, timeout=5, what="condition"):
    """
    Let the reactor run until C{predicate()} is true.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("%s not met within %s s" % (what, timeout))
        await sleep(0.02)


def script(source):
    """
    A script as L{ClusterLink.run} takes it, never loaded into Redis.
    """
    return types.SimpleNamespace(source=source, sha=hashlib.sha1(source.encode("utf-8")).hexdigest())


@pytest.fixture(scope="module")
def cluster():
    """
    Three masters, no replicas.  The node timeout is long enough that a
    master frozen for a moment is not failed.
    """
    cluster = RedisCluster(masters=3, nodeTimeout=3000)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def replicated():
    """
    Three masters with a replica each, failing over quickly.
    """
    cluster = RedisCluster(masters=3, replicas=1, nodeTimeout=500)
    cluster.start()
    yield cluster
    cluster.stop()


async def startLink(ports, **options):
    link = ClusterLink(reactor, [(LOCAL, port) for port in ports], **options)
    link.startService()
    await link.whenConnected().addTimeout(10, reactor)
    return link


@pytest_twisted.async_yield_fixture
async def link(cluster):
    """
    A connected L{ClusterLink} on an empty L{cluster}, seeded with one node.
    """
    for port in cluster.masters():
        command(port, "FLUSHALL")
    link = await startLink(cluster.ports[:1], retryBudget=3)
    yield link
    await link.stopService()


def otherMaster(cluster, port):
    return next(p for p in cluster.masters() if p != port)


def test_key_slot_is_the_cluster_s(cluster):
    """
    L{keySlot} agrees with C{CLUSTER KEYSLOT}, hash tags, Chinese, emoji
    and bytes that are not UTF-8 included.
    """
    keys = [
        "", "a", "123456789", "{user1000}.following", "{user1000}.followers", "foo{}{bar}",
        "foo{{bar}}zap", "foo{bar}{zap}", "{}", "{", "}", "}{a}", "a{b", "{a}", "x{}y{z}", "{{}}",
        "聊天室", "{用户:张三}:pending", "cr:user:张三", "{d:张三|李四}:stream", "é",
        "😀", "{😀}:inbox", "🇫🇷👩‍👩‍👧", "{👍}", "a{😀", b"\xff\xfe\x00bin", b"{\xff}x", b"{}\x80",
    ] + ["k:%d" % i for i in range(300)] + ["{g:%d}:members" % i for i in range(50)]
    port = cluster.ports[0]
    for key in keys:
        assert keySlot(key) == command(port, "CLUSTER", "KEYSLOT", key), key
    assert keySlot("123456789") == 0x31C3  # the CRC16/XMODEM check value
    assert keySlot("{user1000}.following") == keySlot("user1000") == keySlot(b"user1000")


@pytest_twisted.ensureDeferred
async def test_commands_land_on_their_master(cluster, link):
    """
    Every command runs on the master of its first key's slot; keys group
    by master; keyless and explicitly keyed commands work; a CROSSSLOT
    error is passed through.
    """
    keys = ["k:%d" % i for i in range(60)] + ["{用户:张三}:pending", "😀", b"\xff"]
    replies = await defer.gatherResults([link.execute("SET", key, "v%d" % i) for i, key in enumerate(keys)])
    assert replies == ["OK"] * len(keys)
    for i, key in enumerate(keys):
        port = cluster.owner(keySlot(key))
        assert link.nodeForSlot(keySlot(key)) == (LOCAL, port)
        assert command(port, "GET", key) == "v%d" % i
    groups = link.mastersOf(keys)
    assert set(groups) == {(LOCAL, port) for port in cluster.masters()}
    assert sorted(sum(groups.values(), []), key=str) == sorted(keys, key=str)
    for address, group in groups.items():
        assert all(cluster.owner(keySlot(key)) == address[1] for key in group)

    assert await link.execute("MSET", "{t}x", "1", "{t}y", "2") == "OK"
    assert await link.execute("MGET", "{t}x", "{t}y") == ["1", "2"]
    assert await link.executeOnKey("{s}stream", "XLEN", "{s}stream") == 0
    assert await link.execute("PING") == "PONG"
    with pytest.raises(txredisapi.ResponseError, match="CROSSSLOT"):
        await link.execute("MGET", "a", "b")


@pytest_twisted.ensureDeferred
async def test_scripts(link):
    """
    A script Redis has not seen runs (NOSCRIPT, then EVAL); the errors our
    scripts return become protocol errors, as with a single Redis.
    """
    incr = script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert await link.run(incr, ["{s}n"], [5]) == 5
    assert await link.run(incr, ["{s}n"], [2]) == 7
    assert await link.execute("EVALSHA", incr.sha, 1, "{s}n", 1) == 8
    with pytest.raises(errors.NoSuchUser):
        await link.run(script("return redis.error_reply('no_such_user')"), ["{u:bob}"], [])
    with pytest.raises(errors.NotMember):
        await link.run(script("return {err = 'not_member'}"), ["{u:bob}"], [])


@pytest_twisted.ensureDeferred
async def test_slot_moved_while_working(cluster, link):
    """
    While a slot moves, keys already migrated are read through ASK, keys
    not yet migrated from the old master, new keys go to the new one, and
    the map is left alone; a writer working through the rest of the
    migration loses nothing; once the slot is reassigned, MOVED updates
    the map.
    """
    slot = keySlot("{mv}")
    source = cluster.owner(slot)
    target = otherMaster(cluster, source)
    keys = ["{mv}k%d" % i for i in range(30)]
    await defer.gatherResults([link.execute("SET", key, str(i)) for i, key in enumerate(keys)])

    cluster.moveSlot(slot, source, target, keysFirst=keys[:10])
    assert await link.execute("GET", keys[0]) == "0"
    assert await link.execute("GET", keys[20]) == "20"
    assert await link.execute("SET", "{mv}new", "n") == "OK"
    assert command(target, "CLUSTER", "COUNTKEYSINSLOT", slot) == 11
    assert link.nodeForSlot(slot) == (LOCAL, source)

    moving = threads.deferToThread(cluster.finishMove, slot, source, target, 0.005)
    written, after = 0, 0
    while after < 20:
        if moving.called:
            after += 1
        replies = await defer.gatherResults([
            link.execute("RPUSH", "{mv}list", written),
            link.execute("INCR", "{mv}count"),
            link.execute("GET", keys[written % len(keys)]),
        ])
        assert replies[2] == str(written % len(keys))
        written += 1
    await moving
    assert sorted(map(int, await link.execute("LRANGE", "{mv}list", 0, -1))) == list(range(written))
    assert await link.execute("GET", "{mv}count") == str(written)
    assert link.nodeForSlot(slot) == (LOCAL, target)
    assert command(target, "CLUSTER", "COUNTKEYSINSLOT", slot) == len(keys) + 3
    assert command(source, "CLUSTER", "COUNTKEYSINSLOT", slot) == 0


@pytest_twisted.ensureDeferred
async def test_tryagain_is_retried(cluster, link):
    """
    A multi-key command on a slot half migrated gets TRYAGAIN: it is sent
    again until the migration is over, or fails with Unavailable when the
    retry budget runs out.
    """
    slot = keySlot("{ta}")
    source = cluster.owner(slot)
    target = otherMaster(cluster, source)
    await link.execute("MSET", "{ta}a", "1", "{ta}b", "2")
    cluster.moveSlot(slot, source, target, keysFirst=["{ta}a"])
    reading, answered = link.execute("MGET", "{ta}a", "{ta}b"), []
    reading.addBoth(lambda result: answered.append(result) or result)

    short = await startLink(cluster.ports[:1], retryBudget=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(errors.Unavailable):
            await short.execute("MGET", "{ta}a", "{ta}b")
        assert 0.25 < time.monotonic() - started < 1.5
    finally:
        await short.stopService()

    assert not answered
    cluster.finishMove(slot, source, target)
    assert await reading == ["1", "2"]


@pytest_twisted.ensureDeferred
async def test_frozen_master(cluster):
    """
    A master that stops answering fails its commands with Unavailable
    after the reply timeout; once it answers again, commands work.
    """
    link = await startLink(cluster.ports[:1], retryBudget=0.5, replyTimeout=0.4)
    port = cluster.owner(keySlot("frozen"))
    try:
        cluster.processes[port].send_signal(signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(errors.Unavailable):
            await link.execute("GET", "frozen")
        assert time.monotonic() - started < 1.5
    finally:
        cluster.processes[port].send_signal(signal.SIGCONT)
    try:
        await until(lambda: link.connected, what="reconnected")
        assert await link.execute("SET", "frozen", "thawed") == "OK"
    finally:
        await link.stopService()


@pytest_twisted.ensureDeferred
async def test_sharded_pubsub(cluster, link):
    """
    Channels on every master get their messages; a channel whose slot moves,
    or whose connection is lost, is subscribed to again; an unsubscribed
    channel gets nothing.
    """
    received = []
    subscriber = ClusterSubscriber(link, lambda channel, message: received.append((channel, message)))
    subscriber.startService()
    try:
        channels, masters = ["聊天:{群}", "😀"], set()
        for i in range(100):
            masters.add(cluster.owner(keySlot("ch:%d" % i)))
            channels.append("ch:%d" % i)
            if len(masters) == 3:
                break
        await subscriber.subscribe(*channels)
        await until(lambda: set(subscriber.channels) == set(channels), what="subscribed")
        for channel in channels:
            assert await link.execute("SPUBLISH", channel, "hello " + channel) == 1
        await until(lambda: len(received) == len(channels), what="all delivered")
        assert sorted(received) == sorted((channel, "hello " + channel) for channel in channels)

        moved = channels[0]
        slot = keySlot(moved)
        source = cluster.owner(slot)
        target = otherMaster(cluster, source)
        cluster.moveSlot(slot, source, target)
        cluster.finishMove(slot, source, target)
        await until(lambda: subscriber.channels.get(moved) == (LOCAL, target), what="resubscribed after move")
        assert await link.execute("SPUBLISH", moved, "after the move") == 1
        await until(lambda: (moved, "after the move") in received, what="delivered after move")

        lost = channels[1]
        port = cluster.owner(keySlot(lost))
        assert command(port, "CLIENT", "KILL", "TYPE", "pubsub") == 1
        for _ in range(250):
            if await link.execute("SPUBLISH", lost, "after reconnecting") == 1:
                break
            await sleep(0.02)
        await until(lambda: (lost, "after reconnecting") in received, what="delivered after reconnecting")

        await subscriber.unsubscribe(lost)
        await until(lambda: lost not in subscriber.channels)
        for _ in range(250):
            if await link.execute("SPUBLISH", lost, "nobody") == 0:
                break
            await sleep(0.02)
        else:
            raise AssertionError("still subscribed to %s" % (lost,))
        assert (lost, "nobody") not in received
    finally:
        await subscriber.stopService()


@pytest_twisted.ensureDeferred
async def test_failover(replicated):
    """
    A master is killed: each request meanwhile fails with Unavailable or
    succeeds once a replica has taken over, within the retry budget; then
    requests and the sharded subscription work on the new master.
    """
    link = await startLink(replicated.ports[:2], retryBudget=5)
    received = []
    subscriber = ClusterSubscriber(link, lambda channel, message: received.append((channel, message)))
    subscriber.startService()
    try:
        slot = keySlot("{fo}")
        victim = replicated.owner(slot)
        await subscriber.subscribe("{fo}chan")
        await until(lambda: "{fo}chan" in subscriber.channels)
        assert await link.execute("SET", "{fo}n", 0) == "OK"

        replicated.kill(victim)
        killed, outcomes = time.monotonic(), []
        while outcomes[-3:] != ["ok"] * 3:
            started = time.monotonic()
            try:
                await link.execute("INCR", "{fo}n")
                outcomes.append("ok")
            except errors.Unavailable:
                outcomes.append("unavailable")
            assert time.monotonic() - started < link.retryBudget + 1
            assert time.monotonic() - killed < 20, outcomes
        promoted = replicated.owner(slot)
        assert promoted != victim
        assert link.nodeForSlot(slot) == (LOCAL, promoted)

        await until(lambda: subscriber.channels.get("{fo}chan") == (LOCAL, promoted), what="resubscribed")
        assert await link.execute("SPUBLISH", "{fo}chan", "after failover") == 1
        await until(lambda: ("{fo}chan", "after failover") in received)
    finally:
        await subscriber.stopService()
        await link.stopService()


@pytest_twisted.ensureDeferred
async def test_whole_cluster_down(replicated):
    """
    With every node gone, a request fails with Unavailable once the retry
    budget has run out.
    """
    link = await startLink([p for p in replicated.ports if p in replicated.processes], retryBudget=1)
    try:
        assert await link.execute("SET", "x", "1") == "OK"
        for port in list(replicated.processes):
            replicated.kill(port)
        await until(lambda: not link.connected, what="connections lost")
        for _ in range(2):
            started = time.monotonic()
            with pytest.raises(errors.Unavailable):
                await link.execute("GET", "x")
            assert 0.9 < time.monotonic() - started < 3
    finally:
        await link.stopService()
