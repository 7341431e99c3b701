# -*- test-case-name: tests.handlers.test_controls_stores -*-
"""
Personal controls on Redis against the memory store: the same random
requests (block, unblock, blocks, profile.set, user.info, sends and acks
under blocks, password.change with right and wrong passwords, read
receipts on and off) from four users on both stores, the same answer to
each and the same events pushed to each connection.  (Typing is left out:
its 2 seconds pass on the memory store's fake clock, not on Redis's.)
"""

import random

import pytest
import pytest_twisted

from chatroom.limits import Limits
from tests.support.memory import MemoryChat
from tests.support.servers import startChatServer
from tests.support.wire import WireError

USERS = ("张三", "bob", "李四", "dora")
# What may differ between the stores: times and the ids made from them.
_UNSTABLE = {"id", "created", "ts", "msg_id", "upto", "retry_after"}


def _stable(value):
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _UNSTABLE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


class Side:
    """
    One store's server, its users' connections and their passwords.
    """

    def __init__(self, chat):
        self.chat = chat
        self.clients = {}
        self.passwords = dict.fromkeys(USERS, "secret")
        # (user, peer) -> the msg_id of the newest message the user got
        # from the peer.
        self.newest = {}

    async def start(self):
        for user in USERS:
            self.clients[user] = await self.chat.user(user)

    async def request(self, asUser, **fields):
        try:
            reply = _stable(await self.clients[asUser].request(**fields))
        except WireError as e:
            return {"error": e.code}
        if fields["type"] == "password.change":
            self.passwords[asUser] = fields["new"]
        return reply

    async def events(self):
        # Every connection's events so far (in order), then forgotten: a
        # round trip on each connection brings what was written before.
        for client in self.clients.values():
            await client.request("ping")
        found = {}
        for user, client in self.clients.items():
            for e in client.events:
                if e.get("type") == "message" and e.get("to") == user:
                    self.newest[(user, e["from"])] = e["msg_id"]
            found[user] = [_stable(e) for e in client.events if e.get("type") != "presence"]
            client.events.clear()
        return found


def _request(rng, passwords):
    actor, target = rng.sample(USERS, 2)
    kind = rng.choices(
        ["block", "unblock", "blocks", "profile.set", "user.info", "send", "password.change",
         "settings.set", "ack"],
        weights=[6, 5, 3, 3, 5, 14, 2, 2, 6])[0]
    fields = {"type": kind}
    if kind in ("block", "unblock", "user.info"):
        fields["user"] = target
    elif kind == "profile.set":
        fields["name"] = rng.choice(["老张 🐼", "Bob the builder", "李四", "ドーラ"])
    elif kind == "send":
        fields.update(to=target, text="你好 %d 👋" % rng.randrange(100))
    elif kind == "password.change":
        right = rng.random() < 0.7
        fields.update(old=passwords[actor] if right else "wrong-one", new="新密码-%d" % rng.randrange(1000))
    elif kind == "settings.set":
        fields["read_receipts"] = rng.random() < 0.5
    return actor, target, fields


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest_twisted.ensureDeferred
async def test_the_same_personal_controls_on_both_stores(request, seed):
    redis = request.getfixturevalue("redis_process")
    redis.flush()
    unlimited = Limits(sends=None, requests=None)
    memory = MemoryChat(limits=unlimited)
    onRedis = await startChatServer(redis, limits=unlimited)
    try:
        sides = [Side(memory), Side(onRedis)]
        for side in sides:
            await side.start()
        rng = random.Random(seed)
        for number in range(150):
            actor, target, fields = _request(rng, sides[0].passwords)
            if fields["type"] == "ack":
                if (actor, target) not in sides[0].newest:
                    continue
                replies = [await side.request(actor, upto=side.newest[(actor, target)], **{"with": target}, **fields)
                           for side in sides]
            else:
                replies = [await side.request(actor, **fields) for side in sides]
            assert replies[0] == replies[1], (number, actor, fields)
            events = [await side.events() for side in sides]
            assert events[0] == events[1], (number, actor, fields)
    finally:
        await onRedis.stop()
        await memory.stop()
