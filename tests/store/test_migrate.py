"""
Migrating the data of chatroom 0.1 (C{tests/data/release-0.1}, made by that
release's server) to the slot-local layout: at start, by the command, once,
and safely when interrupted anywhere or run by several processes at once.
"""

import os
import subprocess
import sys
import time

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.logger import globalLogPublisher

from chatroom import errors
from chatroom.store import keys
from chatroom.store.connection import RedisLink
from chatroom.store.migrate import LOCK, LayoutError, Migration, describe, migrate
from tests.support import release_data
from tests.support.chatting import settle
from tests.support.servers import RedisProcess, startChatServer
from tests.support.twistd import Twistd, redisServersOf
from tests.support.wire import WireError, connect, until

EXPECTED = release_data.expected()
PASSWORDS = {u["user"]: u["password"] for u in EXPECTED["users"]}
NAMES = {u["user"]: u["name"] for u in EXPECTED["users"]}

#: Keys that are about who is connected now, not data: left out of the
#: comparisons of what is stored.
_PRESENCE = ("{online}", "{nodes}", "{n:")


def _idKey(msgId):
    ms, seq = msgId.split("-")
    return int(ms), int(seq)


def conversationOf(event, user):
    """
    The conversation of a message event, as C{expected.json} names it.
    """
    if "group" in event:
        return "g:" + event["group"]
    return "u:" + "|".join(sorted([event["from"], event["to"]]))


async def scan(link, match="*"):
    found, cursor = set(), "0"
    while True:
        cursor, page = await link.execute("SCAN", cursor, "MATCH", match, "COUNT", 1000)
        found.update(page)
        if cursor == "0":
            return found


async def dump(link):
    """
    Everything stored (presence, the lock and time to live aside): {key:
    (type, value)}.
    """
    out = {}
    for key in await scan(link):
        if key.startswith(_PRESENCE) or key.endswith("}:loc") or key == LOCK:
            continue
        kind = await link.execute("TYPE", key)
        if kind == "hash":
            flat = await link.execute("HGETALL", key)
            value = sorted(zip(flat[::2], flat[1::2])) if isinstance(flat, list) else sorted(flat.items())
        elif kind == "set":
            value = sorted(await link.execute("SMEMBERS", key))
        elif kind == "stream":
            value = [(i, tuple(f)) for i, f in await link.execute("XRANGE", key, "-", "+")]
        elif kind == "string":
            ttl = int(await link.execute("PTTL", key))
            value = (await link.execute("GET", key), ttl > 0, ttl <= 86_400_000)
        else:
            value = await link.execute("DUMP", key)
        out[key] = (kind, value)
    return out


@pytest_twisted.async_yield_fixture
async def link(redis_process):
    """
    A link to the test run's Redis.
    """
    link = RedisLink(reactor, path=redis_process.socket)
    link.startService()
    await link.whenConnected()
    yield link
    await link.stopService()


@pytest_twisted.async_yield_fixture
async def reference(link, redis_process):
    """
    What an uninterrupted migration of the fixture stores.
    """
    release_data.replay(redis_process.socket)
    await migrate(link)
    yield await dump(link)
    redis_process.flush()


@pytest.fixture
def release_redis():
    """
    A redis-server started on a copy of the fixture's data directory, as
    the embedded one would be.
    """
    process = RedisProcess()
    release_data.copyTo(process.dir)
    process.start()
    yield process
    process.stop()


class Events:
    """
    The log events of the migration, while a test runs.
    """

    def __init__(self):
        self.events = []
        globalLogPublisher.addObserver(self)

    def __call__(self, event):
        if event.get("log_namespace", "").startswith("chatroom.store.migrate"):
            self.events.append(event)

    def stop(self):
        globalLogPublisher.removeObserver(self)

    def formats(self):
        return [e["log_format"] for e in self.events]


async def login(server, user):
    client = await server.client()
    reply = await client.request("login", user=user, password=PASSWORDS[user])
    return client, reply


@pytest_twisted.ensureDeferred
async def test_release_data_is_served_after_migration_at_start(release_redis):
    """
    A server of this release started on 0.1's data: every user logs in,
    every conversation's history is whole, what was pending is pushed (and
    only that), groups are as they were, a cid send is recognised; nothing
    of the old layout is left.
    """
    events = Events()
    server = await startChatServer(release_redis)
    try:
        link = server.service.store.link
        assert await link.execute("GET", keys.LAYOUT) == "2"
        assert await scan(link, "cr:*") == set()
        migrated = [e for e in events.events if "counts" in e]
        assert len(migrated) == 1
        counts = migrated[0]["counts"]
        assert (counts["users"], counts["groupStreams"], counts["directStreams"], counts["cids"]) == (5, 3, 4, 2)
        assert counts["messages"] == sum(len(c) for c in EXPECTED["conversations"].values())

        # Every user logs in with its password; the pending messages come.
        clients = {}
        for user in PASSWORDS:
            client, reply = await login(server, user)
            assert reply["name"] == NAMES[user]
            clients[user] = client
        for user, client in clients.items():
            pending = [tuple(p) for p in EXPECTED["pending"][user]]
            await client.until(lambda: len([e for e in client.events if e.get("type") == "message"]) >= len(pending))
            await settle(client)
            pushed = [e for e in client.events if e.get("type") == "message"]
            assert all(e.get("offline") for e in pushed)
            assert sorted((conversationOf(e, user), e["msg_id"]) for e in pushed) == sorted(pending), user
            assert [_idKey(e["msg_id"]) for e in pushed] == sorted(_idKey(e["msg_id"]) for e in pushed)
            texts = {(k, m["msg_id"]): m["text"] for k, c in EXPECTED["conversations"].items() for m in c}
            assert all(e["text"] == texts[conversationOf(e, user), e["msg_id"]] for e in pushed)
        assert EXPECTED["pending"]["李四"] and not EXPECTED["pending"]["alice"]

        # Every conversation's history, whole and in order, for each of its users.
        for key, messages in EXPECTED["conversations"].items():
            kind, name = key.split(":", 1)
            if kind == "u":
                a, b = name.split("|")
                readers = [(a, {"with": b}), (b, {"with": a})]
            else:
                members = [u for u, groups in EXPECTED["groups"].items() if name in groups]
                readers = [(u, {"group": name}) for u in members]
            for reader, fields in readers:
                reply = await clients[reader].request("history", limit=200, **fields)
                assert [(m["msg_id"], m["from"], m["text"]) for m in reply["messages"]] == \
                    [(m["msg_id"], m["from"], m["text"]) for m in messages], (key, reader)
                assert reply["more"] is False

        # Groups: the one alice left is not hers any more; the lobby is everyone's.
        for user, client in clients.items():
            reply = await client.request("group.list")
            assert sorted(reply["groups"]) == sorted(EXPECTED["groups"][user]), user
        reply = await clients["alice"].request("group.members", group="team")
        assert sorted(m["user"] for m in reply["members"]) == ["alice", "bob", "张三"]
        with pytest.raises(WireError) as e:
            await clients["alice"].request("group.send", group="旧群", text="back?")
        assert e.value.code == "not_member"

        # Groups of an earlier release are public and shared, in the
        # directory, and have no owner (no release recorded a creator).
        for group, owner in [("team", None), ("旧群", None), ("lobby", None)]:
            info = await clients["bob"].request("group.info", group=group)
            assert (info["owner"], info["visibility"], info["history"], info["title"]) == \
                (owner, "public", "shared", ""), group
        directory = await clients["carol"].request("group.directory")
        assert [g["group"] for g in directory["groups"]] == sorted(["lobby", "team", "旧群"])
        reply = await clients["bob"].request("group.members", group="team")
        assert {m["role"] for m in reply["members"]} == {"member"}
        for user in ("bob", "alice"):
            with pytest.raises(WireError) as e:
                await clients[user].request("group.kick", group="team", user="张三")
            assert e.value.code == "forbidden"

        # The sends with a cid are recognised: the first msg_id, nothing new.
        for record in EXPECTED["cids"]:
            sender = clients[record["sender"]]
            if record["kind"] == "u":
                peer = [u for u in record["name"].split("|") if u != record["sender"]][0]
                reply = await sender.request("send", to=peer, text="again", cid=record["cid"])
            else:
                reply = await sender.request("group.send", group=record["name"], text="again", cid=record["cid"])
            assert reply["msg_id"] == record["msg_id"]
        await settle(clients["李四"])
        assert [e for e in clients["李四"].events if e.get("type") == "message" and not e.get("offline")] == []
        reply = await clients["李四"].request("history", limit=200, **{"with": "alice"})
        assert len(reply["messages"]) == len(EXPECTED["conversations"]["u:alice|李四"])

        # Acks move the migrated read positions: a second login of 张三
        # gets nothing once it acked what was pushed.
        zhang = clients["张三"]
        (conversation, msgId), = EXPECTED["pending"]["张三"]
        await zhang.request("ack", upto=msgId, **{"with": "bob"})
        again, _ = await login(server, "张三")
        await settle(again)
        assert [e for e in again.events if e.get("type") == "message"] == []

        # The new layout takes new messages.
        reply = await clients["bob"].request("send", to="alice", text="after the migration 🎉")
        event = await clients["alice"].event(type="message", msg_id=reply["msg_id"])
        assert event["text"] == "after the migration 🎉"
        assert _idKey(reply["msg_id"]) > _idKey(EXPECTED["conversations"]["u:alice|bob"][-1]["msg_id"])
    finally:
        await server.stop()
        events.stop()


@pytest_twisted.ensureDeferred
async def test_a_second_start_migrates_nothing(release_redis):
    """
    The migration runs once: a restart (of the server and of Redis, from
    its append-only file) finds the marker and changes nothing.
    """
    server = await startChatServer(release_redis)
    stored = await dump(server.service.store.link)
    await server.stop()
    release_redis.kill(9)
    release_redis.start()
    events = Events()
    try:
        server = await startChatServer(release_redis)
        try:
            link = server.service.store.link
            assert await dump(link) == stored
            assert await migrate(link) is None
            assert [e for e in events.events if "counts" in e] == []
            client, _ = await login(server, "carol")
            assert (await client.request("group.list"))["groups"] == ["lobby"]
        finally:
            await server.stop()
    finally:
        events.stop()


class Stop(Exception):
    """
    Raised by a test's hook to stop a migration.
    """


@pytest.mark.parametrize("after", [0, 1, 3, 7, 15, 30])
@pytest_twisted.ensureDeferred
async def test_a_migration_stopped_after_some_keys_finishes_when_run_again(reference, link, redis_process, after):
    release_data.replay(redis_process.socket)
    moved = []

    def hook(key):
        moved.append(key)
        if len(moved) > after:
            raise Stop(key)

    with pytest.raises(Stop):
        await Migration(link, batch=1, onMoved=hook).run()
    assert await link.execute("GET", keys.LAYOUT) is None
    assert await link.execute("GET", LOCK) is None
    assert len(await scan(link, "cr:*")) >= 31 - len(moved)

    counts = await Migration(link).run()
    assert counts is not None
    assert await scan(link, "cr:*") == set()
    assert await dump(link) == reference


class DyingLink:
    """
    A link that loses Redis for good at its C{n}th command: every command
    from that one on fails with L{errors.Unavailable}, as when Redis or the
    process goes away.
    """

    def __init__(self, link, n):
        self.link = link
        self.reactor = link.reactor
        self.n = n
        self.sent = 0

    def _alive(self):
        self.sent += 1
        return self.sent <= self.n

    def execute(self, *args):
        if not self._alive():
            return defer.fail(errors.Unavailable())
        return self.link.execute(*args)

    def run(self, script, keys, args):
        if not self._alive():
            return defer.fail(errors.Unavailable())
        return self.link.run(script, keys, args)


@pytest_twisted.ensureDeferred
async def test_a_migration_cut_at_any_command_finishes_when_run_again(reference, link, redis_process):
    """
    Redis lost at each command of a migration in turn, then the same
    process tries again (as the node's start does after an outage): the
    end is always the same as an uninterrupted migration's.
    """
    release_data.replay(redis_process.socket)
    whole = DyingLink(link, 10 ** 9)
    await Migration(whole, owner="node-a", batch=7).run()
    assert await dump(link) == reference
    for n in range(whole.sent):
        release_data.replay(redis_process.socket)
        dying = DyingLink(link, n)
        try:
            await Migration(dying, owner="node-a", batch=7).run()
        except errors.Unavailable:
            assert n < whole.sent - 1
        await Migration(link, owner="node-a").run()
        assert await dump(link) == reference, "cut at command %d" % (n,)
        assert await scan(link, "cr:*") == set()


@pytest_twisted.ensureDeferred
async def test_processes_starting_together_migrate_once(reference, link, redis_process):
    release_data.replay(redis_process.socket)
    others = [RedisLink(reactor, path=redis_process.socket) for _ in range(3)]
    for other in others:
        other.startService()
        await other.whenConnected()
    try:
        results = await defer.gatherResults([
            defer.ensureDeferred(Migration(other, owner="worker-%d" % i, batch=3).run())
            for i, other in enumerate(others)
        ])
    finally:
        for other in others:
            await other.stopService()
    assert [r is not None for r in results].count(True) == 1
    assert await dump(link) == reference


@pytest_twisted.ensureDeferred
async def test_a_dead_migrators_lock_expires_and_another_finishes(reference, link, redis_process):
    release_data.replay(redis_process.socket)
    # A process that died half-way: some keys moved, its lock still held.
    with pytest.raises(Stop):
        await Migration(link, owner="dead", batch=1, onMoved=_stopAt(5)).run()
    await link.execute("SET", LOCK, "dead", "PX", 300)
    started = time.monotonic()
    counts = await Migration(link, owner="alive", poll=0.02).run()
    assert counts is not None
    assert time.monotonic() - started >= 0.2
    assert await dump(link) == reference


def _stopAt(n):
    moved = []

    def hook(key):
        moved.append(key)
        if len(moved) >= n:
            raise Stop(key)

    return hook


@pytest_twisted.ensureDeferred
async def test_presence_and_pending_are_dropped_and_unknown_keys_left(link, redis_process):
    release_data.replay(redis_process.socket)
    for command in [
        ("ZADD", "cr:online", 0, "alice"), ("HSET", "cr:loc:alice", "n1", 2),
        ("SADD", "cr:node:n1:users", "alice"), ("SET", "cr:node:n1:alive", 1, "PX", 60000),
        ("SADD", "cr:nodes", "n1"), ("SET", "cr:something:else", "x"),
    ]:
        await link.execute(*command)
    events = Events()
    try:
        counts = await migrate(link)
    finally:
        events.stop()
    assert await scan(link, "cr:*") == {"cr:something:else"}
    # 5 presence keys and the pending indexes of bob, 张三 and 李四.
    assert counts["dropped"] == 8
    assert counts["unknown"] == 1
    assert any("did not write" in f for f in events.formats())
    assert "left 1 keys under cr:" in describe(counts)


@pytest_twisted.ensureDeferred
async def test_an_empty_database_is_only_marked(link, redis_process):
    redis_process.flush()
    counts = await migrate(link)
    assert describe(counts).startswith("nothing to migrate")
    assert await scan(link) == {keys.LAYOUT}
    assert await link.execute("GET", keys.LAYOUT) == "2"
    assert await migrate(link) is None


@pytest_twisted.ensureDeferred
async def test_an_unknown_layout_is_refused(link, redis_process):
    redis_process.flush()
    await link.execute("SET", keys.LAYOUT, "3")
    with pytest.raises(LayoutError):
        await migrate(link)
    redis_process.flush()


@pytest_twisted.ensureDeferred
async def test_a_stream_in_both_layouts_is_not_overwritten(link, redis_process):
    release_data.replay(redis_process.socket)
    await link.execute("XADD", keys.groupStream("team"), "1-1", "f", "x", "t", "y")
    with pytest.raises(LayoutError):
        await migrate(link)
    assert await link.execute("XLEN", keys.groupStream("team")) == 1
    assert await link.execute("EXISTS", "cr:gm:team") == 1
    assert await link.execute("GET", keys.LAYOUT) is None
    redis_process.flush()


@pytest_twisted.ensureDeferred
async def test_requests_wait_for_the_migration(link, redis_process):
    """
    While another process migrates, a starting node answers every request
    but ping with C{unavailable}: nothing may write to a half-migrated
    storage.
    """
    release_data.replay(redis_process.socket)
    await link.execute("SET", LOCK, "someone-else", "PX", 60000)
    starting = defer.ensureDeferred(startChatServer(redis_process))
    # startChatServer listens at once but returns only when the node is ready.
    sessions = []

    async def port():
        await until(lambda: _listeningPort() is not None)
        return _listeningPort()

    try:
        client = await connect(await port())
        sessions.append(client)
        await client.request("ping")
        for request in [("login", {"user": "alice", "password": PASSWORDS["alice"]}),
                        ("register", {"user": "dave", "password": "pw"})]:
            with pytest.raises(WireError) as e:
                await client.request(request[0], **request[1])
            assert e.value.code == "unavailable"
        assert not starting.called
        await link.execute("DEL", LOCK)
        server = await starting
        try:
            reply = await client.request("login", user="alice", password=PASSWORDS["alice"])
            assert reply["user"] == "alice"
        finally:
            await server.stop()
    finally:
        for client in sessions:
            await client.close()
        redis_process.flush()


def _listeningPort():
    # The main port of the chat server being started (the newest listener
    # of a ChatFactory in the reactor).
    from chatroom.server import ChatFactory

    for reader in reactor.getReaders():
        factory = getattr(reader, "factory", None)
        if isinstance(factory, ChatFactory) and hasattr(reader, "getHost"):
            return reader.getHost().port
    return None


def test_the_command_migrates_and_says_what_it_did(redis_process):
    release_data.replay(redis_process.socket)
    command = [sys.executable, "-m", "chatroom.store.migrate", "--redis", "unix://" + redis_process.socket]
    first = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert "migrated 5 users, 3 groups" in first.stdout
    second = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert "already layout 2, nothing to do" in second.stdout
    refused = subprocess.run(command[:3] + ["--redis", "redis-cluster://127.0.0.1:7000"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "Redis Cluster" in refused.stderr
    redis_process.flush()


@pytest_twisted.ensureDeferred
async def test_twistd_workers_on_release_data(tmp_path):
    """
    C{twistd chatroom --workers 2} on a copy of 0.1's data directory: the
    embedded Redis loads its file, one worker migrates while the other
    waits, and users log in.
    """
    dataDir = str(tmp_path / "data")
    release_data.copyTo(dataDir)
    server = WorkersTwistd(dataDir, str(tmp_path / "twistd.log"))
    clients = []
    try:
        server.start()
        client = await server.ready("李四", password=PASSWORDS["李四"], register=False, timeout=60)
        clients.append(client)
        pending = EXPECTED["pending"]["李四"]
        await client.until(lambda: len([e for e in client.events if e.get("type") == "message"]) >= len(pending))
        with open(server.logPath, encoding="utf-8", errors="replace") as f:
            log = f.read()
        assert log.count("Migrating the storage to layout 2") == 1, log
        for user in ("alice", "张三"):
            client = await server.ready(user, password=PASSWORDS[user], register=False)
            clients.append(client)
    finally:
        for client in clients:
            await client.close()
        server.stop()
        for pid in redisServersOf(dataDir):
            os.kill(pid, 9)


class WorkersTwistd(Twistd):
    """
    C{twistd -n chatroom --workers 2}.
    """

    def start(self):
        from tests.support.twistd import TWISTD

        args = [
            TWISTD, "-n", "--pidfile=", "chatroom", "--workers", "2",
            "--port", "tcp:%d:interface=127.0.0.1" % (self.port,), "--debug-port", "none", "--web", "none",
            "--data-dir", self.dataDir,
        ]
        with open(self.logPath, "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.dataDir)
