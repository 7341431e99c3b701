"""
Make C{tests/data/release-0.1}: the data directory of a chatroom 0.1 server
(the release before the slot-local key layout), for the migration tests.

It starts the release's C{twistd chatroom} on an empty data directory, plays
a short story over the protocol (below), stops the server with SIGTERM and
keeps its append-only file, with C{expected.json}: what the story stored
(users, conversations with their msg_ids, what is pending for whom, the
sends with a cid), as the release's replies reported it.

    .venv/bin/python -m tests.support.make_release_data \\
        --twistd /path/to/release-0.1/.venv/bin/twistd [--out tests/data/release-0.1]
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from twisted.internet import defer, task
from twisted.internet.error import ConnectError

from tests.support.twistd import freePort
from tests.support.wire import connect, wait

#: (user, password, display name or None)
USERS = [
    ("alice", "alice-password", "Alice"),
    ("bob", "b0b·密码", None),
    ("张三", "三的密码🔑", "张三 🐉"),
    ("李四", "李四-pw", "Lǐ Sì"),
    ("carol", "p@ss word ✓", None),
]

OLD_GROUP = "旧群"


class Story:
    """
    What the story stored, as the server's replies said: the
    C{expected.json} of the fixture.
    """

    def __init__(self):
        self.conversations = {}
        self.cids = []

    def stored(self, kind, name, sender, text, reply, **extra):
        # kind 'u': name is the pair "a|b" (code point order), kind 'g': the group.
        key = "%s:%s" % (kind, name)
        self.conversations.setdefault(key, []).append({"msg_id": reply["msg_id"], "from": sender, "text": text})
        if "cid" in extra:
            self.cids.append(dict(extra, kind=kind, name=name, sender=sender, msg_id=reply["msg_id"]))
        return reply["msg_id"]


def pair(a, b):
    return "|".join(sorted([a, b]))


async def ready(port, process, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise SystemExit("twistd exited with %s" % (process.returncode,))
        try:
            client = await connect(port)
            await client.request("ping")
            # The storage answers (not 'unavailable' while Redis starts).
            await client.request("login", user="nobody", password="x")
        except ConnectError:
            client = None
        except Exception as e:
            if getattr(e, "code", None) == "auth_failed":
                return client
        if client is not None:
            await client.close()
        if time.monotonic() > deadline:
            raise SystemExit("twistd did not become ready")
        await wait(0.2)


async def play(port):
    """
    The story, over the protocol.  Returns the L{Story}.
    """
    story = Story()
    passwords = {user: password for user, password, _ in USERS}
    # Everyone registers first, so the lobby messages below are missed by
    # the two who never come back (李四, carol).
    for user, password, display in USERS:
        client = await connect(port)
        fields = {"name": display} if display else {}
        await client.request("register", user=user, password=password, **fields)
        await client.close()
    online = {}
    for user in ("alice", "bob", "张三"):
        online[user] = client = await connect(port)
        await client.request("login", user=user, password=passwords[user])
    alice, bob, zhang = online["alice"], online["bob"], online["张三"]

    async def send(client, sender, to, text, **fields):
        reply = await client.request("send", to=to, text=text, **fields)
        story.stored("u", pair(sender, to), sender, text, reply, **fields)
        return reply["msg_id"]

    async def groupSend(client, sender, group, text, **fields):
        reply = await client.request("group.send", group=group, text=text, **fields)
        story.stored("g", group, sender, text, reply, **fields)
        return reply["msg_id"]

    # The lobby: read by the three who are online (each acks up to it).
    await groupSend(bob, "bob", "lobby", "大家好 from bob 👋")
    last = await groupSend(zhang, "张三", "lobby", "lobby: 你好世界 🌏")
    for client in (alice, bob, zhang):
        await client.request("ack", group="lobby", upto=last)

    # A group with three members; bob leaves its last message unread.
    await alice.request("group.create", group="team")
    await bob.request("group.join", group="team")
    await zhang.request("group.join", group="team")
    await groupSend(alice, "alice", "team", "team kickoff 🚀")
    await groupSend(bob, "bob", "team", "ok 👍")
    withCid = await groupSend(alice, "alice", "team", "with cid 42", cid=42)
    last = await groupSend(zhang, "张三", "team", "收到")
    await alice.request("ack", group="team", upto=last)
    await zhang.request("ack", group="team", upto=last)
    await bob.request("ack", group="team", upto=withCid)

    # A group alice joins, writes in and leaves.
    await zhang.request("group.create", group=OLD_GROUP)
    await alice.request("group.join", group=OLD_GROUP)
    last = await groupSend(alice, "alice", OLD_GROUP, "离开前的最后一句")
    await zhang.request("ack", group=OLD_GROUP, upto=last)
    await alice.request("group.leave", group=OLD_GROUP)

    # Direct messages between online users, all read.
    await send(alice, "alice", "bob", "hi bob")
    last = await send(alice, "alice", "bob", "how are you? 😀")
    reply = await send(bob, "bob", "alice", "fine 🙂")
    await bob.request("ack", **{"with": "alice", "upto": last})
    await alice.request("ack", **{"with": "bob", "upto": reply})

    # 张三 reads bob's first message, not the second.
    first = await send(bob, "bob", "张三", "第一条")
    await send(bob, "bob", "张三", "第二条 ✌️")
    await zhang.request("ack", **{"with": "bob", "upto": first})

    # For 李四, who is offline: stored, one with a cid (sent twice: the
    # release answers the retry with the first msg_id).
    await send(alice, "alice", "李四", "你好李四")
    cidReply = await alice.request("send", to="李四", text="cid message 📨", cid="alice-cid-1")
    story.stored("u", pair("alice", "李四"), "alice", "cid message 📨", cidReply, cid="alice-cid-1")
    again = await alice.request("send", to="李四", text="cid message 📨", cid="alice-cid-1")
    assert again["msg_id"] == cidReply["msg_id"], (again, cidReply)
    await send(alice, "alice", "李四", "third 🎈")
    await send(zhang, "张三", "李四", "老朋友 🍵")
    await zhang.request("ping")
    for client in online.values():
        await client.close()
    return story


def pending(story):
    """
    The messages each user has not read, as the story left them: what a
    login must push, as C{[conversation, msg_id]} pairs (a msg_id is unique
    within its conversation only), oldest first.
    """
    def fromOthers(key, reader, skip=0):
        return [[key, m["msg_id"]] for m in story.conversations[key] if m["from"] != reader][skip:]

    result = {
        # Offline since registering: the lobby, alice's and 张三's messages.
        "李四": fromOthers("g:lobby", "李四") + fromOthers("u:" + pair("alice", "李四"), "李四")
        + fromOthers("u:" + pair("张三", "李四"), "李四"),
        "carol": fromOthers("g:lobby", "carol"),
        # Acked bob's first direct message only.
        "张三": fromOthers("u:" + pair("bob", "张三"), "张三", skip=1),
        # Acked the team up to alice's cid message: 张三's last one is left.
        "bob": fromOthers("g:team", "bob")[-1:],
        "alice": [],
    }
    return {user: sorted(found, key=lambda p: _idKey(p[1])) for user, found in result.items()}


def _idKey(msgId):
    ms, seq = msgId.split("-")
    return int(ms), int(seq)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--twistd", required=True, help="the twistd of a chatroom 0.1 virtualenv")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "data", "release-0.1"))
    options = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="chatroom-release-0.1-")
    dataDir = os.path.join(work, "data")
    os.makedirs(dataDir)
    port = freePort()
    args = [options.twistd, "-n", "--pidfile=", "chatroom", "--port", "tcp:%d:interface=127.0.0.1" % (port,),
            "--debug-port", "none", "--data-dir", dataDir]
    logPath = os.path.join(work, "twistd.log")
    with open(logPath, "wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=work)

    async def run(reactor):
        try:
            client = await ready(port, process)
            await client.close()
            story = await play(port)
            madeAt = int(time.time() * 1000)
            # Let the server see the connections go before it stops.
            await wait(1)
        finally:
            process.send_signal(signal.SIGTERM)
            for _ in range(400):
                if process.poll() is not None:
                    break
                await wait(0.05)
        if process.returncode not in (0, -signal.SIGTERM):
            raise SystemExit("twistd exited with %s; see %s" % (process.returncode, logPath))
        os.makedirs(options.out, exist_ok=True)
        shutil.copyfile(os.path.join(dataDir, "appendonly.aof"), os.path.join(options.out, "appendonly.aof"))
        expected = {
            "made_at_ms": madeAt,
            "users": [{"user": u, "password": p, "name": n or u} for u, p, n in USERS],
            "groups": {"alice": ["lobby", "team"], "bob": ["lobby", "team"], "张三": ["lobby", "team", OLD_GROUP],
                       "李四": ["lobby"], "carol": ["lobby"]},
            "conversations": story.conversations,
            "pending": pending(story),
            "cids": story.cids,
        }
        with open(os.path.join(options.out, "expected.json"), "w", encoding="utf-8") as f:
            json.dump(expected, f, ensure_ascii=False, indent=1, sort_keys=True)
            f.write("\n")
        print("wrote %s (twistd log: %s)" % (os.path.abspath(options.out), logPath))

    task.react(lambda reactor: defer.ensureDeferred(run(reactor)))


if __name__ == "__main__":
    main()
