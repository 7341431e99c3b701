"""
Soak test: many clients for a long time against one chatroom server, then a
check that no acknowledged message was lost or shown twice.

Every simulated user loops over random actions: a direct message to a
random user, a message to one of its groups, an ``ack``, a ``history``
page, and now and then a disconnect (abrupt close or ``logout``) followed
by a reconnect and a new login.  The generator keeps a ledger of every
message the server acknowledged (an ``ok`` for ``send``/``group.send``)
and of every message each connection received.

At the end every user logs in once more on a fresh connection, which gets
its pending messages pushed.  The run passes when

* every acknowledged message reached each of its recipients: on some
  connection of that user during the run, or at the final login;
* every acknowledged message after a recipient's last ``ack`` of its
  conversation is pushed at the final login (it was still pending);
* no connection received the same message twice.

Acks are sent only when they cannot skip a message: a user acknowledges
a conversation up to X only if it has received every acknowledged message
of that conversation up to X and none of its own sends to it is waiting
for a reply.

Usage (from the repository root, chatroom installed in this Python)::

    python bench/soak.py                   # 200 clients, 600 s
    python bench/soak.py --seconds 30      # a quick one
    python bench/soak.py --server 127.0.0.1:8889

Exit status 0 when nothing was lost or duplicated, 1 otherwise.
"""

import argparse
import asyncio
import collections
import json
import os
import random
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from adapters import take_frames  # noqa: E402

_LEN = struct.Struct(">I")

TEXTS = ["你好 👋", "hello", "早上好，世界 🌏", "ok 👍", "测试消息", "soak ✔", "💬🔥🎉"]


def conversationKey(obj, me):
    """
    The conversation of a message event, the same for every participant:
    ("g", group) or ("u", the two users sorted).
    """
    group = obj.get("group")
    if group is not None:
        return ("g", group)
    sender = obj.get("from")
    other = obj.get("to") if sender == me else sender
    return ("u",) + tuple(sorted((me, other)))


class Connection(asyncio.Protocol):
    """
    One connection of a soak user: frames, requests by id, message events
    recorded (and checked for repeats) in the shared L{Ledger}.
    """

    serial = 0

    def __init__(self, user, ledger):
        Connection.serial += 1
        self.cid = Connection.serial
        self.user = user
        self.ledger = ledger
        self.transport = None
        self.buf = bytearray()
        self.nextId = 0
        self.pending = {}
        self.received = set()
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        if not self.closed.done():
            self.closed.set_result(None)
        pending, self.pending = self.pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("connection lost"))

    def data_received(self, data):
        self.buf += data
        for frame in take_frames(self.buf):
            self.frameReceived(json.loads(frame))

    def frameReceived(self, obj):
        kind = obj.get("type")
        if kind in ("ok", "error") and "id" in obj:
            fut = self.pending.pop(obj["id"], None)
            if fut is not None and not fut.done():
                fut.set_result(obj)
            return
        if kind == "message":
            key = (conversationKey(obj, self.user.name), obj["msg_id"])
            if key in self.received:
                self.ledger.duplicates.append((self.user.name, self.cid, key))
            self.received.add(key)
            self.ledger.receive(self.user.name, key, obj.get("offline", False))

    def request(self, obj):
        """
        Send a request; a Future of its reply.
        """
        self.nextId += 1
        obj["id"] = self.nextId
        fut = asyncio.get_running_loop().create_future()
        self.pending[self.nextId] = fut
        body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self.transport.write(_LEN.pack(len(body)) + body)
        return fut


class Ledger:
    """
    What the server acknowledged and what every user received.
    """

    def __init__(self):
        # (conversation, msg_id) -> (sender, recipients)
        self.acked = {}
        # user -> set of (conversation, msg_id) received on any connection
        self.received = collections.defaultdict(set)
        self.offlineReceived = 0
        self.duplicates = []
        self.counts = collections.Counter()
        # user -> {conversation: upto} of the acks sent (whether or not
        # confirmed: an ack that took effect unconfirmed must not make a
        # message look wrongly "not pending")
        self.readUpTo = collections.defaultdict(dict)
        # user -> conversation -> msg_ids acknowledged to their sender but
        # not yet received by this user
        self.missing = collections.defaultdict(lambda: collections.defaultdict(set))

    def receive(self, user, key, offline):
        self.received[user].add(key)
        self.missing[user][key[0]].discard(key[1])
        self.counts["received offline" if offline else "received live"] += 1

    def acknowledged(self, key, sender, recipients):
        self.acked[key] = (sender, recipients)
        for recipient in recipients:
            if key not in self.received[recipient]:
                self.missing[recipient][key[0]].add(key[1])


def idKey(msgId):
    ms, _, seq = msgId.partition("-")
    return int(ms), int(seq)


class User:
    """
    One simulated person: a name, groups, and at most one connection.
    """

    def __init__(self, name, groups, soak):
        self.name = name
        self.groups = groups
        self.soak = soak
        self.conn = None
        # conversation -> number of own sends waiting for a reply
        self.sending = collections.Counter()

    async def connect(self):
        loop = asyncio.get_running_loop()
        for attempt in range(50):
            conn = Connection(self, self.soak.ledger)
            try:
                await loop.create_connection(lambda: conn, self.soak.host, self.soak.port)
                reply = await asyncio.wait_for(
                    conn.request({"type": "login", "user": self.name, "password": "pw"}), 30)
            except (OSError, ConnectionError, asyncio.TimeoutError):
                self.soak.ledger.counts["connect failures"] += 1
                if conn.transport is not None:
                    conn.transport.close()
                await asyncio.sleep(0.2 + random.random())
                continue
            if reply["type"] == "ok":
                self.conn = conn
                self.soak.ledger.counts["logins"] += 1
                return conn
            self.soak.ledger.counts["login " + reply.get("code", "?")] += 1
            conn.transport.close()
            await asyncio.sleep(reply.get("retry_after", 500) / 1000 + random.random())
        raise RuntimeError("%s could not log in" % (self.name,))

    async def disconnect(self):
        conn, self.conn = self.conn, None
        if conn is None:
            return
        if random.random() < 0.5:
            self.soak.ledger.counts["abrupt disconnects"] += 1
            conn.transport.abort()
        else:
            self.soak.ledger.counts["logouts"] += 1
            try:
                await asyncio.wait_for(conn.request({"type": "logout"}), 10)
                await asyncio.wait_for(conn.closed, 10)
            except (ConnectionError, asyncio.TimeoutError):
                conn.transport.abort()

    async def send(self, conversation, request, recipients):
        conn = self.conn
        self.sending[conversation] += 1
        try:
            reply = await conn.request(request)
        except ConnectionError:
            # Lost with the connection: the message may or may not be
            # stored; it was not acknowledged, so it is not checked.
            self.soak.ledger.counts["sends unanswered"] += 1
            return
        finally:
            self.sending[conversation] -= 1
        if reply["type"] == "ok":
            self.soak.ledger.acknowledged((conversation, reply["msg_id"]), self.name, recipients)
            self.soak.ledger.counts["sends acknowledged"] += 1
        else:
            self.soak.ledger.counts["send " + reply.get("code", "?")] += 1

    def sendDirect(self):
        peer = random.choice(self.soak.users)
        if peer is self:
            return None
        conversation = ("u",) + tuple(sorted((self.name, peer.name)))
        request = {"type": "send", "to": peer.name, "text": random.choice(TEXTS)}
        return self.send(conversation, request, (peer.name,))

    def sendGroup(self):
        # The lobby holds everyone: a tenth of the group traffic is plenty.
        group = "lobby" if random.random() < 0.1 else random.choice(self.groups[:-1])
        members = tuple(u.name for u in self.soak.members[group] if u is not self)
        request = {"type": "group.send", "group": group, "text": random.choice(TEXTS)}
        return self.send(("g", group), request, members)

    async def ackSafely(self):
        """
        Ack every conversation as far as is safe (see the module docstring).
        """
        conn = self.conn
        ledger = self.soak.ledger
        missing = ledger.missing[self.name]
        latest = {}
        for conversation, msgId in conn.received:
            if conversation in latest and idKey(latest[conversation]) >= idKey(msgId):
                continue
            latest[conversation] = msgId
        for conversation, upto in latest.items():
            if self.sending[conversation]:
                continue
            limit = idKey(upto)
            known = ledger.readUpTo[self.name].get(conversation)
            if known is not None and idKey(known) >= limit:
                continue
            if any(idKey(m) <= limit for m in missing[conversation]):
                continue
            field = "group" if conversation[0] == "g" else "with"
            name = conversation[1] if conversation[0] == "g" else (
                conversation[2] if conversation[1] == self.name else conversation[1])
            ledger.readUpTo[self.name][conversation] = upto
            try:
                reply = await conn.request({"type": "ack", field: name, "upto": upto})
            except ConnectionError:
                return
            ledger.counts["acks" if reply["type"] == "ok" else "ack " + reply.get("code", "?")] += 1

    async def run(self, until, rate):
        await self.connect()
        while time.monotonic() < until:
            await asyncio.sleep(random.expovariate(rate))
            roll = random.random()
            try:
                if roll < 0.55:
                    work = self.sendDirect()
                    if work is not None:
                        asyncio.ensure_future(work)
                elif roll < 0.85:
                    asyncio.ensure_future(self.sendGroup())
                elif roll < 0.93:
                    await self.ackSafely()
                elif roll < 0.96:
                    peer = random.choice(self.soak.users)
                    if peer is not self:
                        await self.conn.request({"type": "history", "with": peer.name, "limit": 20})
                else:
                    await self.disconnect()
                    await asyncio.sleep(random.uniform(0, 3))
                    await self.connect()
            except ConnectionError:
                self.conn = None
                await self.connect()


async def loginRetrying(conn, name):
    """
    Log C{conn} in as C{name}, waiting out C{rate_limited} and
    C{unavailable}.
    """
    for _ in range(100):
        reply = await conn.request({"type": "login", "user": name, "password": "pw"})
        if reply.get("code") not in ("rate_limited", "unavailable"):
            assert reply["type"] == "ok", reply
            return reply
        await asyncio.sleep(reply.get("retry_after", 500) / 1000)
    raise RuntimeError("%s could not log in" % (name,))


class Soak:
    """
    The whole run: users, groups, the ledger and the final check.
    """

    def __init__(self, host, port, clients, groups, seed):
        random.seed(seed)
        self.host = host
        self.port = port
        self.ledger = Ledger()
        self.groupNames = ["soak-群-%d" % (i,) for i in range(groups)] + ["lobby"]
        self.users = []
        self.members = collections.defaultdict(list)
        run = "%x" % (int(time.time()) % 0xFFFFFF,)
        for i in range(clients):
            mine = random.sample(self.groupNames[:-1], min(2, groups)) + ["lobby"]
            user = User("s%s_%d_用户" % (run, i), mine, self)
            self.users.append(user)
            for g in mine:
                self.members[g].append(user)

    async def setup(self):
        loop = asyncio.get_running_loop()
        creator = Connection(self.users[0], self.ledger)
        await loop.create_connection(lambda: creator, self.host, self.port)

        async def registerAll():
            for user in self.users:
                while True:
                    conn = Connection(user, self.ledger)
                    await loop.create_connection(lambda: conn, self.host, self.port)
                    reply = await conn.request({"type": "register", "user": user.name, "password": "pw"})
                    conn.transport.close()
                    if reply["type"] == "ok":
                        break
                    if reply.get("code") not in ("rate_limited", "unavailable"):
                        raise RuntimeError("register %s: %s" % (user.name, reply))
                    # Busy, or the server is still connecting to its Redis.
                    await asyncio.sleep(reply.get("retry_after", 500) / 1000)

        await registerAll()
        first = self.users[0]
        await loginRetrying(creator, first.name)
        for group in self.groupNames[:-1]:
            reply = await creator.request({"type": "group.create", "group": group})
            assert reply["type"] == "ok", reply
        creator.transport.close()
        # Join before any traffic, so that a group's members are known.
        for user in self.users:
            conn = Connection(user, self.ledger)
            await loop.create_connection(lambda: conn, self.host, self.port)
            await loginRetrying(conn, user.name)
            for group in user.groups:
                if group == "lobby":
                    continue
                reply = await conn.request({"type": "group.join", "group": group})
                assert reply["type"] == "ok", reply
            conn.transport.close()

    async def run(self, seconds, rate):
        until = time.monotonic() + seconds
        started = time.monotonic()
        progress = asyncio.ensure_future(self.progress(started, seconds))
        await asyncio.gather(*(u.run(until, rate) for u in self.users))
        progress.cancel()
        # Let the last sends get their replies.
        for _ in range(100):
            if not any(u.conn and u.conn.pending for u in self.users):
                break
            await asyncio.sleep(0.1)
        for user in self.users:
            if user.conn is not None:
                user.conn.transport.close()
                user.conn = None
        await asyncio.sleep(1)

    async def progress(self, started, seconds):
        while True:
            await asyncio.sleep(30)
            c = self.ledger.counts
            print("  %4.0f s / %d: %d acknowledged, %d received live, %d offline, %d logins"
                  % (time.monotonic() - started, seconds, c["sends acknowledged"],
                     c["received live"], c["received offline"], c["logins"]), flush=True)

    async def finalLogins(self):
        """
        Log every user in once more and collect its pending messages.
        """
        final = {}
        loop = asyncio.get_running_loop()
        for user in self.users:
            conn = Connection(user, self.ledger)
            await loop.create_connection(lambda: conn, self.host, self.port)
            await loginRetrying(conn, user.name)
            final[user.name] = conn
        # Wait until the pushes are over (nothing arrived for 3 s).
        last, quiet = -1, 0
        while quiet < 3:
            await asyncio.sleep(1)
            total = sum(len(c.received) for c in final.values())
            quiet = quiet + 1 if total == last else 0
            last = total
        for conn in final.values():
            conn.transport.close()
        return final

    def check(self, final):
        """
        The verdict: (lost, notPending) lists; duplicates are in the ledger.
        """
        lost, notPending = [], []
        ledger = self.ledger
        for key, (sender, recipients) in ledger.acked.items():
            conversation, msgId = key
            for recipient in recipients:
                if key not in ledger.received[recipient]:
                    lost.append((recipient, key))
                    continue
                upto = ledger.readUpTo[recipient].get(conversation)
                if (upto is None or idKey(upto) < idKey(msgId)) and key not in final[recipient].received:
                    notPending.append((recipient, key))
        return lost, notPending


async def main(args):
    server = None
    if args.server:
        host, _, port = args.server.rpartition(":")
        port = int(port)
    else:
        import servers
        servers.raise_fd_limit()
        extra = ["--hash-cost", "1", "--hash-memory", "8"] + list(args.server_arg)
        server = servers.start_chatroom(extra_args=extra)
        server.wait_ready()
        host, port = server.host, server.port
        print("server: pid %d on %s:%d (data in %s)" % (server.pid, host, port, server.workdir), flush=True)
    try:
        soak = Soak(host, port, args.clients, args.groups, args.seed)
        started = time.monotonic()
        await soak.setup()
        print("%d users registered, %d groups; running %d s" % (args.clients, args.groups + 1, args.seconds), flush=True)
        await soak.run(args.seconds, args.rate)
        final = await soak.finalLogins()
        lost, notPending = soak.check(final)
        elapsed = time.monotonic() - started
    finally:
        if server is not None:
            server.stop()
            if not args.keep:
                server.cleanup()
    c = soak.ledger.counts
    deliveries = sum(len(r) for _, r in soak.ledger.acked.values())
    print()
    print("soak: %d clients, %d s of traffic (%.0f s in all)" % (args.clients, args.seconds, elapsed))
    for name in sorted(c):
        print("  %-24s %d" % (name, c[name]))
    print("  %-24s %d" % ("messages to check", len(soak.ledger.acked)))
    print("  %-24s %d" % ("deliveries to check", deliveries))
    print("  %-24s %d" % ("pending at final login", sum(len(f.received) for f in final.values())))
    print("  %-24s %d" % ("lost", len(lost)))
    print("  %-24s %d" % ("not pending after all", len(notPending)))
    print("  %-24s %d" % ("duplicates", len(soak.ledger.duplicates)))
    for what, items in (("lost", lost), ("not pending", notPending), ("duplicate", soak.ledger.duplicates)):
        for item in items[:10]:
            print("  %s: %r" % (what, item))
    ok = not lost and not notPending and not soak.ledger.duplicates and len(soak.ledger.acked) > 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def parseArgs(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", "-N", type=int, default=200, help="simulated users (default 200)")
    p.add_argument("--seconds", type=float, default=600, help="duration of the traffic (default 600)")
    p.add_argument("--rate", type=float, default=0.5, help="actions per second per user (default 0.5)")
    p.add_argument("--groups", type=int, default=10, help="groups besides the lobby (default 10)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--server", default=None, help="HOST:PORT of a running server (default: start one)")
    p.add_argument("--server-arg", action="append", default=[],
                   help="extra twistd chatroom option for the started server (repeatable)")
    p.add_argument("--keep", action="store_true", help="keep the started server's directory")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parseArgs())))
