"""
What a login costs the server apart from password hashing, and whether it
grows with the number of users online.

    python bench/login_cost.py [--users 2000]

Starts ``twistd chatroom`` (limits lifted, cheapest argon2 parameters),
registers the users, then logs them in three times over new connections,
measuring the CPU of twistd and redis-server per login: with nobody online
yet, with half of the users online, with all of them online.  The argon2
verify time for the same parameters, measured in this process, is
subtracted.  Prints one line per round and a JSON line.
"""

import argparse
import asyncio
import json
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from procstat import TreeSampler  # noqa: E402
from servers import start_chatroom  # noqa: E402

HASH_ARGS = ["--hash-cost=1", "--hash-memory=8"]


async def request(reader, writer, obj):
    body = json.dumps(obj).encode()
    writer.write(struct.pack(">I", len(body)) + body)
    while True:
        size, = struct.unpack(">I", await reader.readexactly(4))
        reply = json.loads(await reader.readexactly(size))
        if reply.get("type") in ("ok", "error"):
            return reply


async def login(port, user, keep):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    reply = await request(reader, writer, {"type": "login", "user": user, "password": "pw"})
    assert reply["type"] == "ok", reply
    keep.append(writer)


async def register(port, users):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for user in users:
        for _ in range(100):
            reply = await request(reader, writer, {"type": "register", "user": user, "password": "pw"})
            if reply.get("code") != "unavailable":
                break
            await asyncio.sleep(0.1)  # the embedded Redis is starting
        assert reply["type"] == "ok", reply
    writer.close()


def verifyCost(samples=300):
    """
    CPU seconds of one argon2 verify with the server's parameters.
    """
    from argon2 import PasswordHasher

    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    encoded = hasher.hash("pw")
    started = time.process_time()
    for _ in range(samples):
        hasher.verify(encoded, "pw")
    return (time.process_time() - started) / samples


async def main(users):
    server = start_chatroom(extra_args=HASH_ARGS)
    try:
        server.wait_ready()
        sampler = TreeSampler(server.proc.pid)
        names = ["login%05d" % i for i in range(users)]
        await asyncio.gather(*[register(server.port, names[i::20]) for i in range(20)])
        verify = verifyCost()
        keep, rounds = [], []
        half = users // 2
        for label, batch in (("nobody online", names[:half]), ("%d online" % half, names[half:])):
            before = sampler.sample()
            for start in range(0, len(batch), 50):
                await asyncio.gather(*[login(server.port, u, keep) for u in batch[start:start + 50]])
            await asyncio.sleep(0.5)
            after = sampler.sample()
            perLogin = (after["cpu_s"] - before["cpu_s"]) / len(batch)
            rounds.append({"round": label, "logins": len(batch), "cpu_us_per_login": round(perLogin * 1e6, 1),
                           "without_hashing_us": round((perLogin - verify) * 1e6, 1)})
            print("%-16s %5d logins: %7.1f us CPU each, %7.1f us without the %.1f us argon2 verify"
                  % (label, len(batch), perLogin * 1e6, (perLogin - verify) * 1e6, verify * 1e6))
        for writer in keep:
            writer.close()
        print(json.dumps({"bench": "login_cost", "users": users, "verify_us": round(verify * 1e6, 1), "rounds": rounds}))
    finally:
        server.stop()
        server.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    asyncio.run(main(parser.parse_args().users))
