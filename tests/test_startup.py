"""
The real C{twistd chatroom} on a data directory of a million keys, which
its embedded Redis takes a moment to load: the port listens only once
storage is ready, so a client that connects the moment the port accepts
gets its first requests answered, never C{unavailable} — after a start and
after a crash (SIGKILL) and restart.
"""

import os
import time

import pytest_twisted
from twisted.internet.error import ConnectError

from tests.support.twistd import Twistd, killRedisOf, redisServersOf
from tests.support.wire import connect, wait

#: Keys in the data directory: about a second of loading for Redis.
KEYS = 1_000_000


def encode(*args):
    out = [b"*%d\r\n" % (len(args),)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode("utf-8")
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def writeManyKeys(dataDir, count=KEYS, batch=10):
    """
    An append-only file of C{count} keys (and this release's layout mark,
    so that nothing is migrated) in C{dataDir}, as Redis 6.2 writes it (a
    Redis 7 upgrades it at its first start).
    """
    with open(os.path.join(dataDir, "appendonly.aof"), "wb") as f:
        f.write(encode("SELECT", "0"))
        f.write(encode("SET", "{layout}", "2"))
        for start in range(0, count, batch):
            args = ["MSET"]
            for i in range(start, min(count, start + batch)):
                args += ["{filler}:%d" % (i,), "x"]
            f.write(encode(*args))


async def firstClient(server, timeout=60):
    """
    A connection made the moment the port accepts one (tried every 10 ms),
    and how many attempts were refused before.
    """
    deadline = time.monotonic() + timeout
    refused = 0
    while True:
        if server.process.poll() is not None:
            raise AssertionError("twistd exited: %s\n%s" % (server.process.returncode, server.log()))
        try:
            return await connect(server.port), refused
        except ConnectError:
            refused += 1
        if time.monotonic() > deadline:
            raise AssertionError("the port never listened:\n" + server.log())
        await wait(0.01)


def fullLog(server):
    with open(server.logPath, "rb") as f:
        return f.read().decode("utf-8", "replace")


@pytest_twisted.ensureDeferred
async def test_first_requests_succeed_after_start_and_crash(tmp_path):
    dataDir = str(tmp_path / "data")
    os.makedirs(dataDir, mode=0o700)
    writeManyKeys(dataDir)
    server = Twistd(dataDir, str(tmp_path / "twistd.log"))
    clients = []
    try:
        server.start()
        alice, refused = await firstClient(server)
        clients.append(alice)
        # Every request of the first connection is answered (a WireError,
        # such as unavailable, fails the test).
        await alice.request("register", user="alice", password="secret")
        await alice.request("login", user="alice", password="secret")
        await alice.request("group.create", group="早起")
        assert "alice" in [u["user"] for u in (await alice.request("users"))["users"]]
        log = fullLog(server)
        # The test saw what it is about: the port refused connections while
        # Redis was still loading its data.
        assert refused > 0
        assert "LOADING" in log, log[-4000:]

        server.kill()
        await alice.closed
        deadline = time.monotonic() + 10
        while redisServersOf(dataDir) and time.monotonic() < deadline:
            await wait(0.05)
        loadingBefore = fullLog(server).count("LOADING")
        server.start()
        alice, refused = await firstClient(server)
        clients.append(alice)
        await alice.request("login", user="alice", password="secret")
        await alice.request("group.send", group="早起", text="又起来了")
        assert refused > 0
        assert fullLog(server).count("LOADING") > loadingBefore
    finally:
        for client in clients:
            await client.close()
        server.stop()
        killRedisOf(dataDir)
