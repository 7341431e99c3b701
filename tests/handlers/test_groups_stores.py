# -*- test-case-name: tests.handlers.test_groups_stores -*-
"""
Running groups on Redis against the memory store: the same random requests
(create, join, leave, add, kick, ban, unban, roles, settings, messages,
delete) from four users on both stores, the same answer to each, and after
every step the same groups, members and roles as each user sees them; at
the end the same history of every group for every member.  The Redis
store's rules are its Lua scripts (lua/_group.lua), the memory store's
are in Python (store/memgroups.py).
"""

import random

import pytest
import pytest_twisted

from chatroom.limits import Limits
from tests.support.memory import MemoryChat
from tests.support.servers import startChatServer
from tests.support.wire import WireError

USERS = ("张三", "bob", "李四", "dora")
GROUPS = ("读书会", "team")
# What may differ between the stores: times and the ids made from them.
_UNSTABLE = {"id", "created", "ts", "msg_id", "joined", "cursor"}


def _stable(value):
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _UNSTABLE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


class Side:
    """
    One store's server and its users' connections.
    """

    def __init__(self, chat):
        self.chat = chat
        self.clients = {}

    async def start(self):
        for user in USERS:
            self.clients[user] = await self.chat.user(user)

    async def request(self, asUser, **fields):
        try:
            return _stable(await self.clients[asUser].request(**fields))
        except WireError as e:
            return {"error": e.code}

    async def view(self, user):
        seen = [await self.request(user, type="group.list")]
        for group in GROUPS:
            seen.append(await self.request(user, type="group.info", group=group))
            seen.append(await self.request(user, type="group.members", group=group))
        return seen

    async def history(self, user, group):
        reply = await self.request(user, type="history", group=group, limit=200)
        if "error" in reply:
            return reply["error"]
        return [(m["from"], m.get("text"), m.get("retracted", False)) for m in reply["messages"]]


def _request(rng):
    actor, target = rng.sample(USERS, 2)
    group = rng.choice(GROUPS)
    kind = rng.choices(
        ["group.create", "group.join", "group.leave", "group.add", "group.kick", "group.ban", "group.unban",
         "group.role", "group.set", "group.send", "group.delete"],
        weights=[6, 10, 5, 8, 5, 4, 3, 6, 5, 12, 1])[0]
    fields = {"type": kind, "group": group}
    if kind in ("group.add", "group.kick", "group.ban", "group.unban", "group.role"):
        fields["user"] = target
    if kind == "group.role":
        fields["role"] = rng.choice(["owner", "admin", "member"])
    if kind == "group.set":
        fields.update(rng.choice([{"visibility": "private"}, {"visibility": "public"},
                                  {"history": "joined"}, {"history": "shared"}, {"title": "标题 📚"}]))
    if kind == "group.send":
        fields["text"] = "%s 说 %d 🍜" % (actor, rng.randrange(1000))
    return actor, fields


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
@pytest_twisted.ensureDeferred
async def test_the_same_groups_on_both_stores(request, seed):
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
            actor, fields = _request(rng)
            replies = [await side.request(actor, **fields) for side in sides]
            assert replies[0] == replies[1], (number, actor, fields)
            for user in USERS:
                views = [await side.view(user) for side in sides]
                assert views[0] == views[1], (number, actor, fields, user)
        for user in USERS:
            for group in GROUPS:
                histories = [await side.history(user, group) for side in sides]
                assert histories[0] == histories[1], (user, group)
    finally:
        await onRedis.stop()
        await memory.stop()
