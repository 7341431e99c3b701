"""
Group commit: the sends and acks of one reactor turn run as one script call,
and each still gets its own outcome.
"""

import pytest_twisted
from twisted.internet import defer

from chatroom import errors
from chatroom.store.messages import Conversation
from tests.support.chatting import receive


def _commandCount(redis_process, command):
    info = redis_process.command("INFO", "commandstats").decode()
    for line in info.splitlines():
        if line.startswith("cmdstat_%s:" % (command,)):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


@pytest_twisted.ensureDeferred
async def test_one_turn_of_sends_and_acks_is_one_script_call_each(chat, redis_process):
    alice = await chat.user("alice")
    await chat.user("bob")
    store = chat.service.store.messages
    before = _commandCount(redis_process, "evalsha")
    sends = [defer.ensureDeferred(store.sendDirect("alice", "bob", "第 %d 条 🙂" % i)) for i in range(20)]
    sends.append(defer.ensureDeferred(store.sendDirect("alice", "nobody", "丢失")))
    results = await defer.DeferredList(sends, consumeErrors=True)
    assert _commandCount(redis_process, "evalsha") == before + 1
    stored = [r for ok, r in results[:20]]
    assert all(ok for ok, _ in results[:20]) and len({s.msgId for s in stored}) == 20
    assert not results[20][0] and results[20][1].check(errors.NoSuchUser)

    before = _commandCount(redis_process, "evalsha")
    acks = [
        store.ack("bob", Conversation("u", "alice"), stored[9].msgId),
        store.ack("bob", Conversation("u", "nobody"), stored[9].msgId),
        store.ack("bob", Conversation("g", "no-group"), stored[9].msgId),
        store.ack("bob", Conversation("g", "lobby"), stored[9].msgId),
    ]
    results = await defer.DeferredList(acks, consumeErrors=True)
    assert _commandCount(redis_process, "evalsha") == before + 1
    assert results[0] == (True, True) and results[3][0]
    assert results[1][1].check(errors.NoSuchUser) and results[2][1].check(errors.NoSuchGroup)

    # Only the acked half is pushed again at bob's next login.
    bob = await chat.user("bob", register=False)
    await receive(bob, 10, timeout=2)
    got = [e["msg_id"] for e in bob.events if e.get("type") == "message"]
    assert got == [s.msgId for s in stored[10:]]
    assert alice.connected

