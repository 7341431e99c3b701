"""
The in-memory store: it provides the store interfaces as the Redis store
does (the rules themselves are tested on both stores through the protocol,
see tests/conftest.py), and what is its own: stream ids from a clock,
retention, pub/sub between nodes sharing one L{MemoryData}.
"""

import pytest
import pytest_twisted
from zope.interface.verify import verifyObject

from chatroom.messages import Conversation
from chatroom.store import interfaces
from chatroom.store.memory import MemoryData, MemoryStore
from chatroom.store.redis import RedisStore
from tests.support.memory import EPOCH, FakeClock

PARTS = [
    ("accounts", interfaces.IAccountStore), ("groups", interfaces.IGroupStore),
    ("messages", interfaces.IMessageStore), ("conversations", interfaces.IConversationStore),
    ("presence", interfaces.IPresenceStore),
    ("nodes", interfaces.INodeStore),
]


def memoryStore(node="n1", data=None, retention=100):
    clock = FakeClock()
    clock.advance(EPOCH)
    return clock, MemoryStore(clock, node, retention=retention, data=data)


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_both_stores_provide_the_interfaces(kind):
    if kind == "memory":
        store = memoryStore()[1]
    else:
        store = RedisStore(FakeClock(), "n1", path="/nonexistent/redis.sock")
    verifyObject(interfaces.IChatStore, store)
    for name, interface in PARTS:
        verifyObject(interface, getattr(store, name))


@pytest_twisted.ensureDeferred
async def test_ids_increase_within_one_millisecond_and_carry_the_clock():
    clock, store = memoryStore()
    await store.accounts.create("alice", "h", "Alice")
    await store.accounts.create("bob", "h", "Bob")
    ids = [(await store.messages.sendDirect("alice", "bob", "第%d条" % i)).msgId for i in range(3)]
    ms = int(EPOCH * 1000)
    assert ids == ["%d-0" % ms, "%d-1" % ms, "%d-2" % ms]
    clock.advance(0.002)
    later = await store.messages.sendDirect("bob", "alice", "🙂")
    assert later.msgId == "%d-0" % (ms + 2)


@pytest_twisted.ensureDeferred
async def test_retention_keeps_the_newest_messages():
    clock, store = memoryStore(retention=100)
    await store.accounts.create("alice", "h", "Alice")
    await store.accounts.create("bob", "h", "Bob")
    sent = [(await store.messages.sendDirect("alice", "bob", str(i))).msgId for i in range(150)]
    entries, more = await store.messages.history("bob", Conversation("u", "alice"), None, 200)
    assert [msgId for msgId, _ in entries] == sent[-100:]
    assert not more


@pytest_twisted.ensureDeferred
async def test_nodes_on_one_data_hear_each_other():
    clock, a = memoryStore("a")
    b = MemoryStore(clock, "b", data=a.data)
    heard = []
    b.nodes.listen(heard.append)
    a.nodes.broadcast(b"hello")
    a.nodes.publishToNode("b", b"to b")
    a.nodes.publishToGroup("g", b"unheard")
    await b.nodes.watchGroups(["g"])
    a.nodes.publishToGroup("g", b"to g")
    # Delivered on the next turn, as Redis pub/sub would.
    assert heard == []
    clock.advance(0)
    assert heard == [b"hello", b"to b", b"to g"]
    b.nodes.unwatchGroups(["g"])
    a.nodes.publishToGroup("g", b"gone")
    clock.advance(0)
    assert heard[-1] == b"to g"


@pytest_twisted.ensureDeferred
async def test_a_node_that_stops_beating_is_reaped_with_its_users():
    clock, a = memoryStore("a")
    b = MemoryStore(clock, "b", data=a.data)
    await a.accounts.create("张三", "h", "张三")
    await a.nodes.heartbeat(3)
    await b.nodes.heartbeat(3)
    await a.presence.connect("张三")
    assert await b.presence.isOnline("张三")
    clock.advance(2)
    await b.nodes.heartbeat(3)
    assert await b.nodes.reap(500) == (0, [])
    clock.advance(2)
    dead, users = await b.nodes.reap(500)
    assert dead == 1 and users == [("张三", ["lobby"])]
    assert not await b.presence.isOnline("张三")
    assert sorted(await b.nodes.heartbeat(3)) == ["b"]


def test_a_memory_data_is_shared_only_when_given():
    _, a = memoryStore("a")
    _, b = memoryStore("b")
    assert a.data is not b.data
    assert isinstance(a.data, MemoryData)
