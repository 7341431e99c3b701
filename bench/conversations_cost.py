"""
What one ``conversations`` request costs the server: a user with 200
conversations holding 10,000 messages it has not read.

    python bench/conversations_cost.py [--peers 199] [--per 50] [--calls 50] [--readers 5] [--replied]

Starts ``twistd chatroom`` (limits lifted), registers ``--readers`` readers
and ``--peers`` users; each peer sends ``--per`` messages to each reader and
``--per`` more go to the lobby (so a reader has ``--peers`` direct
conversations and the lobby, ``--peers`` x ``--per`` + ``--per`` unread
messages).  Each reader asks ``conversations`` once: the first call counts
every unread message (cold).  Then the first reader asks ``--calls`` times
in a row, with ``limit`` 200 (one page: one script per conversation) and
with ``limit`` 50 (pages: first when each conversation was last active,
then the page); those only count what came since (warm).  With
``--replied`` each reader first writes once to each peer (so its unread
messages there are read entry by entry: see docs/storage.rst).  Prints, for
each, the round trip over loopback TCP (median and 90th percentile) and the
CPU of twistd and its redis-server per request; then one JSON line.
"""

import argparse
import asyncio
import json
import os
import statistics
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from procstat import TreeSampler  # noqa: E402
from servers import start_chatroom  # noqa: E402

HASH_ARGS = ["--hash-cost=1", "--hash-memory=8"]


class Connection:
    """
    One client connection: requests answered in order, events skipped.
    """

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port):
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    def send(self, obj):
        body = json.dumps(obj).encode()
        self.writer.write(struct.pack(">I", len(body)) + body)

    async def reply(self):
        while True:
            size, = struct.unpack(">I", await self.reader.readexactly(4))
            obj = json.loads(await self.reader.readexactly(size))
            if obj.get("type") in ("ok", "error"):
                return obj

    async def request(self, obj):
        self.send(obj)
        return await self.reply()

    async def quiet(self, seconds=0.5):
        # Read (and drop) pushed events until none came for a while.
        while True:
            try:
                size, = struct.unpack(">I", await asyncio.wait_for(self.reader.readexactly(4), seconds))
            except asyncio.TimeoutError:
                return
            await self.reader.readexactly(size)


async def account(port, user, login=True):
    connection = await Connection.open(port)
    for _ in range(100):
        reply = await connection.request({"type": "register", "user": user, "password": "pw"})
        if reply.get("code") != "unavailable":
            break
        await asyncio.sleep(0.1)  # the embedded Redis is starting
    assert reply["type"] == "ok", reply
    if login:
        reply = await connection.request({"type": "login", "user": user, "password": "pw"})
        assert reply["type"] == "ok", reply
    return connection


async def fill(connection, count, **fields):
    for i in range(count):
        connection.send(dict(fields, text="未读消息 %d 📨 for the conversation list" % i))
    for _ in range(count):
        reply = await connection.reply()
        assert reply["type"] == "ok", reply


async def measure(reader, sampler, calls, limit):
    times = []
    before = sampler.sample()
    for _ in range(calls):
        started = time.perf_counter()
        reply = await reader.request({"type": "conversations", "limit": limit})
        times.append(time.perf_counter() - started)
        assert reply["type"] == "ok", reply
    after = sampler.sample()
    cpu = {name: (after["by_name"][name][0] - before["by_name"].get(name, [0])[0]) / calls
           for name in after["by_name"]}
    return reply, times, cpu


def report(label, record):
    print("%-22s %d of %d conversations listed, %d unread among them; round trip median %.2f ms, "
          "p90 %.2f ms; server CPU per call %.2f ms (%s)" % (
              label, record["listed"], record["conversations"], record["unread_listed"],
              record["round_trip_ms_median"], record["round_trip_ms_p90"], record["cpu_ms_per_call_total"],
              ", ".join("%s %.2f" % item for item in record["cpu_ms_per_call"].items())))


def summary(limit, peers, reply, times, cpu):
    listed = reply["conversations"]
    times = sorted(times)
    return {
        "limit": limit, "conversations": peers + 1, "listed": len(listed),
        "unread_listed": sum(c["unread"] for c in listed),
        "round_trip_ms_median": round(statistics.median(times) * 1000, 2),
        "round_trip_ms_p90": round(times[max(0, int(len(times) * 0.9) - 1)] * 1000, 2),
        "cpu_ms_per_call": {name: round(seconds * 1000, 2) for name, seconds in sorted(cpu.items())},
        "cpu_ms_per_call_total": round(sum(cpu.values()) * 1000, 2),
    }


async def main(peers, per, calls, readers, replied=False):
    server = start_chatroom(extra_args=HASH_ARGS)
    try:
        server.wait_ready()
        sampler = TreeSampler(server.proc.pid)
        readerNames = ["reader%d" % i for i in range(readers)]
        readerConnections = [await account(server.port, name) for name in readerNames]
        reader = readerConnections[0]
        names = ["peer%04d" % i for i in range(peers)]
        senders = []
        for start in range(0, peers, 20):
            senders += await asyncio.gather(*[account(server.port, name) for name in names[start:start + 20]])
        if replied:
            for connection in readerConnections:
                for name in names:
                    connection.send({"type": "send", "to": name, "text": "我先说 👋"})
                for _ in names:
                    reply = await connection.reply()
                    assert reply["type"] == "ok", reply
        for name in readerNames:
            await asyncio.gather(*[fill(c, per, type="send", to=name) for c in senders])
        await fill(senders[0], per, type="group.send", group="lobby")
        for connection in readerConnections:
            await connection.quiet()
        # Cold: each reader's first call counts everything.
        times, cpu, reply = [], {}, None
        before = sampler.sample()
        for connection in readerConnections:
            started = time.perf_counter()
            reply = await connection.request({"type": "conversations", "limit": 200})
            times.append(time.perf_counter() - started)
        after = sampler.sample()
        cpu = {name: (after["by_name"][name][0] - before["by_name"].get(name, [0])[0]) / readers
               for name in after["by_name"]}
        results = [dict(summary(200, peers, reply, times, cpu), calls="first of each reader")]
        report("first call, limit 200:", results[0])
        for limit in (200, 50):
            await measure(reader, sampler, 5, limit)  # warm up
            reply, times, cpu = await measure(reader, sampler, calls, limit)
            record = dict(summary(limit, peers, reply, times, cpu), calls="later calls")
            results.append(record)
            report("later calls, limit %d:" % limit, record)
        for connection in senders + readerConnections:
            connection.writer.close()
        print(json.dumps({"bench": "conversations_cost", "peers": peers, "per_peer": per, "replied": replied,
                          "unread": peers * per + per, "calls": calls, "results": results}))
    finally:
        server.stop()
        server.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", type=int, default=199)
    parser.add_argument("--per", type=int, default=50)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--readers", type=int, default=5)
    parser.add_argument("--replied", action="store_true", help="each reader writes once to each peer first")
    options = parser.parse_args()
    asyncio.run(main(options.peers, options.per, options.calls, options.readers, options.replied))
