"""
The same requests on both stores, for the tests that hold them to the same
answers (C{tests/handlers/test_*_stores.py}): a server on the memory store
and one on the test run's Redis, with the rate limits lifted, and a L{Side}
per server holding its users' connections.
"""

import contextlib

from chatroom.limits import Limits
from tests.support.memory import MemoryChat
from tests.support.servers import startChatServer
from tests.support.wire import WireError

#: Requests as fast as the tests make them.
UNLIMITED = Limits(sends=None, requests=None)

#: Fields that may differ between the stores: times and the ids made from
#: them.
UNSTABLE = frozenset({"id", "created", "ts", "msg_id", "joined", "cursor", "upto", "retry_after"})


def stable(value):
    """
    C{value} (a reply or an event) without its L{UNSTABLE} fields.
    """
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in UNSTABLE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


class Side:
    """
    One store's server and a connection of each of C{users}.
    """

    def __init__(self, chat, users):
        self.chat = chat
        self.users = users
        self.clients = {}

    async def start(self):
        for user in self.users:
            self.clients[user] = await self.chat.user(user)

    async def request(self, asUser, **fields):
        """
        The reply to a request of C{asUser}, or C{{"error": code}}.
        """
        try:
            return await self.clients[asUser].request(**fields)
        except WireError as e:
            return {"error": e.code}


@contextlib.asynccontextmanager
async def bothStores(request, side, users):
    """
    A server on the memory store and one on the test run's Redis (emptied
    first), each with a C{side} (a L{Side} class) whose C{users} are
    connected, stopped afterwards: C{async with bothStores(request, Side,
    users) as (onMemory, onRedis)}.
    """
    redis = request.getfixturevalue("redis_process")
    redis.flush()
    memory = MemoryChat(limits=UNLIMITED)
    onRedis = await startChatServer(redis, limits=UNLIMITED)
    try:
        sides = (side(memory, users), side(onRedis, users))
        for each in sides:
            await each.start()
        yield sides
    finally:
        await onRedis.stop()
        await memory.stop()
