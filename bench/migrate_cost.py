"""
Measure how long the migration of release 0.1's data (chatroom.store.migrate)
takes; the figures are in docs/storage.rst.  Run from the repository root:

    python bench/migrate_cost.py [--runs 3]

It starts its own redis-server (the embedded one's configuration), writes
0.1-layout keys into it as 0.1's scripts wrote them (accounts, lobby
memberships, read positions, direct streams with their recipients' pending
entries, a group stream, cid records), and migrates them over the unix
socket, as a node does at start.
"""

import argparse
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted.internet import defer, task  # noqa: E402

from chatroom.store.connection import RedisLink  # noqa: E402
from chatroom.store.migrate import migrate  # noqa: E402
from tests.support.release_data import encode  # noqa: E402
from tests.support.servers import RedisProcess  # noqa: E402

#: 48 bytes of ASCII text.
TEXT = "message {i:06d} of the migration test, 48 bytes."
PASSWORD_HASH = "$argon2id$v=19$m=19456,t=2,p=1$" + "s" * 22 + "$" + "h" * 43
BASE_MS = int(time.time() * 1000) - 3_600_000


def accounts(users):
    for user in users:
        yield ["HSET", "cr:user:" + user, "pw", PASSWORD_HASH, "name", user]
        yield ["SADD", "cr:ugroups:" + user, "lobby"]
        yield ["HSET", "cr:gmembers:lobby", user, "0-0"]
        yield ["HSET", "cr:read:" + user, "g:lobby", "0-0"]
    yield ["SADD", "cr:groups", "lobby"]


def direct(conversations, perConversation, cids):
    # 100 messages from each of `conversations` senders to one recipient,
    # as send_direct.lua stored them (the recipient read half of them).
    senders = ["u%05d" % i for i in range(conversations)]
    yield from accounts(senders + ["r"])
    n = 0
    for sender in senders:
        stream = "cr:dm:r:" + sender
        for j in range(perConversation):
            msgId = "%d-%d" % (BASE_MS + n // 10, n % 10)
            yield ["XADD", stream, msgId, "f", sender, "t", TEXT.format(i=n)]
            if cids:
                yield ["SET", "cr:cid:%s:u:r:s%08d" % (sender, n), msgId + "|stored", "EX", 86400]
            if j == perConversation // 2:
                yield ["HSET", "cr:read:r", "u:" + sender, msgId]
            n += 1
        yield ["HSET", "cr:pending:r", sender, stream]


def group(messages, cids):
    users = ["u%05d" % i for i in range(100)]
    yield from accounts(users)
    for n in range(messages):
        msgId = "%d-%d" % (BASE_MS + n // 10, n % 10)
        sender = users[n % len(users)]
        yield ["XADD", "cr:gm:lobby", msgId, "f", sender, "t", TEXT.format(i=n)]
        if cids:
            yield ["SET", "cr:cid:%s:g:lobby:s%08d" % (sender, n), msgId, "EX", 86400]


def load(redis, commands):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(redis.socket)
        batch = []
        for command in commands:
            batch.append(command)
            if len(batch) == 10000:
                _send(s, batch)
                batch = []
        _send(s, batch)


def _send(s, batch):
    # The batch, then an ECHO whose reply says every reply before it came.
    marker = b"batch-loaded"
    s.sendall(encode(batch + [["ECHO", marker]]))
    received = b""
    while not received.endswith(marker + b"\r\n"):
        received += s.recv(1 << 20)
    if b"\r\n-" in b"\r\n" + received:
        raise ValueError("Redis refused a command: %r" % (received[:500],))


async def run(reactor, runs):
    redis = RedisProcess()
    redis.start()
    link = RedisLink(reactor, path=redis.socket)
    link.startService()
    await link.whenConnected()
    cases = [
        ("100,000 direct messages in 1,000 conversations, no cid records", lambda: direct(1000, 100, False)),
        ("the same, each message with a cid record", lambda: direct(1000, 100, True)),
        ("100,000 messages in one group, each with a cid record", lambda: group(100_000, True)),
    ]
    try:
        for label, make in cases:
            times = []
            for _ in range(runs):
                redis.flush()
                load(redis, make())
                keyCount = int(await link.execute("DBSIZE"))
                started = time.monotonic()
                counts = await migrate(link)
                times.append(time.monotonic() - started)
                assert counts["messages"] == 100_000, counts
            print("%-66s %7d keys  %s s" % (label, keyCount, ", ".join("%.2f" % t for t in times)))
    finally:
        await link.stopService()
        redis.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    task.react(lambda reactor: defer.ensureDeferred(run(reactor, options.runs)))


if __name__ == "__main__":
    main()
