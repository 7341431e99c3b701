"""
Measure what a stored message costs in Redis memory and how long a login
with 10,000 pending messages takes to drain over loopback; the figures are
in docs/storage.rst.  Run from the repository root:

    python bench/storage_cost.py

It starts its own redis-server (the embedded one's configuration) and an
in-process chatroom server on 127.0.0.1, like the tests do.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted.internet import defer, task  # noqa: E402

from tests.support.servers import RedisProcess, startChatServer  # noqa: E402
from tests.support.wire import connect, until, wait  # noqa: E402

#: 48 bytes of ASCII text.
TEXT = "message {i:06d} of the memory test, fifty bytes.."


def usedMemory(redis):
    info = redis.command("INFO", "memory").decode()
    return int(re.search(r"used_memory:(\d+)", info).group(1))


async def inChunks(calls, chunk=1000):
    for start in range(0, len(calls), chunk):
        await defer.gatherResults(
            [defer.ensureDeferred(f()) for f in calls[start:start + chunk]], consumeErrors=True
        )


async def measure(redis, label, calls, unit, per):
    before = usedMemory(redis)
    await inChunks(calls)
    grown = usedMemory(redis) - before
    print("%-52s %10d bytes  %8.1f B/%s" % (label, grown, grown / per, unit))


async def main(reactor):
    redis = RedisProcess()
    redis.start()
    try:
        redis.flush()
        chat = await startChatServer(redis)
        messages, accounts = chat.service.messages, chat.service.accounts
        passwordHash = await chat.service.hasher.hash("pw")
        names = ["u%04d" % i for i in range(1000)]
        await inChunks([lambda n=n: accounts.create(n, passwordHash, n) for n in names + ["alice", "bob", "carol"]])
        print("text: %d bytes; allocator: %s" % (
            len(TEXT.format(i=0)), re.search(r"mem_allocator:(\S+)", redis.command("INFO", "memory").decode()).group(1)))

        await measure(redis, "100,000 messages in one conversation (a group)",
                      [lambda i=i: messages.sendGroup("lobby", "alice", TEXT.format(i=i)) for i in range(100000)],
                      "message", 100000)
        await measure(redis, "100,000 messages in 1,000 direct conversations",
                      [lambda i=i, n=n: messages.sendDirect(n, "bob", TEXT.format(i=i))
                       for i in range(100) for n in names],
                      "message", 100000)
        await measure(redis, "the first message of 1,000 new conversations",
                      [lambda n=n: messages.sendDirect(n, "carol", TEXT.format(i=0)) for n in names],
                      "conversation", 1000)

        for conversations in (1, 10):
            redis.flush()
            await accounts.ensureLobby()
            await inChunks([lambda n=n: accounts.create(n, passwordHash, n) for n in names[:conversations] + ["dave"]])
            await inChunks([lambda i=i: messages.sendDirect(names[i % conversations], "dave", TEXT.format(i=i))
                            for i in range(10000)])
            for run in range(3):
                client = await connect(chat.port)
                await client.request("login", user="dave", password="pw")
                started = time.monotonic()
                await until(lambda: sum(1 for e in client.events if e.get("offline")) >= 10000, timeout=60, step=0.001)
                print("login with 10,000 pending in %2d conversation(s), run %d: %.3f s from ok to the last"
                      % (conversations, run + 1, time.monotonic() - started))
                await client.close()
                await wait(0.2)
        await chat.stop()
    finally:
        redis.stop()


if __name__ == "__main__":
    task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
