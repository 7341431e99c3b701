"""
Three real C{twistd chatroom} nodes on one Redis behave, to a client written
from PROTOCOL.md, like one server: direct and group messages cross nodes,
presence, C{users} and C{group.members} are cluster-wide, one user may be
connected to several nodes, and a node killed with SIGKILL loses nothing.
"""

import re
import time

import pytest
import pytest_twisted
from twisted.internet import defer

from chatroom.store import keys
from tests.support.chatting import ids, receive, settle
from tests.support.wire import until, wait
from tests.support.nodes import NODE_TIMEOUT, Cluster, names


async def settleAll(clients, seconds=0.2):
    """
    A C{ping} round trip on every connection at once, then one short wait
    for them all: no event says that nothing more is coming (a duplicate
    relayed through Redis would come a moment after the first copy), so
    "exactly once" is checked after that moment.
    """
    await defer.gatherResults([client.request("ping") for client in clients], consumeErrors=True)
    await wait(seconds)

@pytest.fixture(scope="module")
def nodes():
    """
    Redis and three nodes, for the whole module.
    """
    cluster = Cluster()
    try:
        cluster.redis.start()
        cluster.start("nodeA", "nodeB", "nodeC")
        yield cluster
    finally:
        cluster.stop()


@pytest_twisted.async_yield_fixture
async def cluster(nodes):
    """
    The module's cluster, with this test's clients closed at teardown and
    any node it started stopped.
    """
    before = set(nodes.nodes)
    await nodes.quiet()
    try:
        yield nodes
    finally:
        await nodes.closeClients()
        for name in set(nodes.nodes) - before:
            nodes.nodes.pop(name).stop()


@pytest_twisted.ensureDeferred
async def test_send_across_nodes(cluster):
    alice, bob, carol = names("爱丽丝", "bob", "卡罗尔")
    a = await cluster.user(alice, "nodeA")
    b = await cluster.user(bob, "nodeB")
    # carol exists but is offline.
    c = await cluster.user(carol, "nodeC")
    await c.close()
    await until(lambda: carol not in cluster.online())

    sent = await a.request("send", to=bob, text="你好 👋 from A")
    assert sent["status"] == "delivered"
    event = await b.event(type="message")
    assert (event["msg_id"], event["from"], event["to"], event["text"]) == (sent["msg_id"], alice, bob, "你好 👋 from A")
    assert "offline" not in event
    reply = await b.request("send", to=alice, text="回复 🎉")
    assert reply["status"] == "delivered"
    assert (await a.event(type="message"))["text"] == "回复 🎉"
    # Stored: history on a third node holds both, in order.
    bobOnC = await cluster.user(bob, "nodeC", register=False)
    history = await bobOnC.request("history", **{"with": alice})
    assert [m["text"] for m in history["messages"]] == ["你好 👋 from A", "回复 🎉"]

    away = await a.request("send", to=carol, text="离线消息 📨")
    assert away["status"] == "stored"
    c = await cluster.user(carol, "nodeB", register=False)
    pushed = await c.event(type="message")
    assert (pushed["msg_id"], pushed["text"], pushed["offline"]) == (away["msg_id"], "离线消息 📨", True)


@pytest_twisted.ensureDeferred
async def test_group_fanout_once_per_connection(cluster):
    group, = names("群聊")
    members = names(*("成员%s" % i for i in range(6)))
    owner, offlineMember = names("群主", "离线")
    o = await cluster.user(owner, "nodeA")
    await o.request("group.create", group=group)
    gone = await cluster.user(offlineMember, "nodeC")
    await gone.request("group.join", group=group)
    await gone.close()
    await until(lambda: offlineMember not in cluster.online())

    connections = []
    for i, name in enumerate(members):
        node = ("nodeA", "nodeB", "nodeC")[i % 3]
        first = await cluster.user(name, node)
        await first.request("group.join", group=group)
        connections += [first, await cluster.user(name, node, register=False)]
    # The sender's other device, on another node, gets the copies too.
    ownerOnB = await cluster.user(owner, "nodeB", register=False)
    connections.append(ownerOnB)

    sent = [await o.request("group.send", group=group, text="群消息 %d 🧧" % i) for i in range(5)]
    for client in connections:
        await receive(client, 5, group=group)
    await settleAll(connections + [o])
    for client in connections:
        got = [e for e in client.events if e.get("type") == "message" and e.get("group") == group]
        assert ids(got) == ids(sent), "every connection gets each message exactly once, in order"
        assert [e["text"] for e in got] == ["群消息 %d 🧧" % i for i in range(5)]
    assert [e for e in o.events if e.get("type") == "message"] == []

    # Online flags are cluster-wide, asked on any node.
    listed = await connections[1].request("group.members", group=group)
    flags = {m["user"]: m["online"] for m in listed["members"]}
    assert flags == dict({name: True for name in members}, **{owner: True, offlineMember: False})


@pytest_twisted.ensureDeferred
async def test_presence_users_and_counts_across_nodes(cluster):
    group, = names("在线")
    users = names("用户甲", "用户乙", "用户丙", "用户丁", "用户戊")
    watcher = await cluster.user(users[0], "nodeA")
    await watcher.request("group.create", group=group)
    clients = [watcher]
    for i, name in enumerate(users[1:], 1):
        client = await cluster.user(name, ("nodeA", "nodeB", "nodeC")[i % 3])
        await client.request("group.join", group=group)
        clients.append(client)
    # The login reply counts users on every node.
    assert clients[-1].login["online"] == len(users)

    # users, paged 2 at a time from node C, lists those of every node once.
    listed, cursor, pages = [], None, 0
    while True:
        fields = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
        page = await clients[2].request("users", **fields)
        assert page["total"] == len(users)
        listed += [u["user"] for u in page["users"]]
        pages += 1
        cursor = page["cursor"]
        if cursor is None:
            break
    assert sorted(listed) == sorted(users) and len(listed) == len(users)
    assert pages == 3

    # Presence from another node: a second device changes nothing, the
    # last connection going away does.
    late, = names("迟到")
    lateA = await cluster.user(late, "nodeB")
    await lateA.request("group.join", group=group)
    await lateA.close()
    await watcher.event(type="presence", user=late, status="offline")
    watcher.events.clear()
    lateC = await cluster.user(late, "nodeC", register=False)
    assert (await watcher.event(type="presence", user=late))["status"] == "online"
    lateB = await cluster.user(late, "nodeB", register=False)
    await lateC.close()
    # Node C has counted the connection out once Redis no longer places
    # the user there; a presence event it published then would go out
    # before a message sent through node C afterwards (replies on its one
    # Redis connection come in order, and node A hears both channels on
    # one pub/sub connection), so once that message is here, so would be
    # the event.
    await until(lambda: "nodeC" not in cluster.redisCall("HKEYS", keys.locations(late)))
    barrier = await clients[2].request("send", to=users[0], text="在此之后 📬")
    await watcher.event(type="message", msg_id=barrier["msg_id"])
    assert [e for e in watcher.events if e.get("type") == "presence" and e["user"] == late] == []
    await lateB.close()
    await watcher.event(type="presence", user=late, status="offline")
    page = await clients[1].request("users")
    assert late not in [u["user"] for u in page["users"]] and page["total"] == len(users)


@pytest_twisted.ensureDeferred
async def test_one_user_on_two_nodes(cluster):
    alice, bob = names("多设备", "对方")
    aliceA = await cluster.user(alice, "nodeA")
    aliceB = await cluster.user(alice, "nodeB", register=False)
    bobC = await cluster.user(bob, "nodeC")

    sent = await bobC.request("send", to=alice, text="两台设备都收到 📱💻")
    assert sent["status"] == "delivered"
    for device in (aliceA, aliceB):
        event = await device.event(type="message", msg_id=sent["msg_id"])
        assert event["text"] == "两台设备都收到 📱💻"

    reply = await aliceA.request("send", to=bob, text="从 A 回复 ✅")
    assert (await bobC.event(type="message"))["msg_id"] == reply["msg_id"]
    copy = await aliceB.event(type="message", msg_id=reply["msg_id"])
    assert (copy["from"], copy["to"], copy["text"]) == (alice, bob, "从 A 回复 ✅")
    await settleAll([aliceA, aliceB, bobC])
    # Nothing more: no repeats, and the sending connection got only the ok.
    assert [aliceA.messages(), aliceB.messages(), bobC.messages()] == [[], [], []]
    # Redis knows both nodes of alice.
    locations = cluster.redisCall("HGETALL", keys.locations(alice))
    assert dict(zip(locations[::2], locations[1::2])) == {"nodeA": "1", "nodeB": "1"}


@pytest_twisted.ensureDeferred
async def test_group_joined_on_one_node_is_followed_on_another(cluster):
    user, owner, group = names("跟随者", "群主", "新群")
    onA = await cluster.user(user, "nodeA")
    onB = await cluster.user(user, "nodeB", register=False)
    o = await cluster.user(owner, "nodeC")
    await o.request("group.create", group=group)
    await onA.request("group.join", group=group)
    # Node B learns of the join through pub/sub and subscribes to the
    # group's channel: every node with a member of the group listens.
    await until(lambda: cluster.redisCall("PUBSUB", "NUMSUB", keys.groupChannel(group))[1] == 3, timeout=3)

    sent = await o.request("group.send", group=group, text="欢迎 🎈")
    for device in (onA, onB):
        event = await device.event(type="message", group=group)
        assert (event["msg_id"], event["text"]) == (sent["msg_id"], "欢迎 🎈")
    assert (await onB.request("group.list"))["groups"].count(group) == 1

    # And leaving on B is followed on A: nothing more arrives on either.
    await onB.request("group.leave", group=group)
    await until(lambda: cluster.redisCall("PUBSUB", "NUMSUB", keys.groupChannel(group))[1] == 1, timeout=3)
    await o.request("group.send", group=group, text="已离开 🚪")
    # A direct message sent after it: node C publishes both on its one
    # Redis connection and nodes A and B hear every channel on one pub/sub
    # connection, so a copy of the group message would come first.
    barrier = await o.request("send", to=user, text="之后 📬")
    for device in (onA, onB):
        await device.event(type="message", msg_id=barrier["msg_id"])
        assert [m for m in device.messages() if m.get("group") == group] == []


@pytest_twisted.ensureDeferred
async def test_same_node_messages_publish_nothing(cluster):
    """
    Users of the same node chat without pub/sub: not one PUBLISH, even
    though other nodes exist.
    """
    alice, bob, carol = names("同节点甲", "同节点乙", "别的节点")
    a = await cluster.user(alice, "nodeA")
    b = await cluster.user(bob, "nodeA")
    c = await cluster.user(carol, "nodeB")

    def publishes():
        stats = cluster.redisCall("INFO", "commandstats")
        found = re.search(r"cmdstat_publish:calls=(\d+)", stats)
        return int(found.group(1)) if found else 0

    # Wait out the publishes of earlier logins and logouts: until none
    # comes for 0.2 s (no event says the last one was made).
    before, deadline = publishes(), time.monotonic() + 5
    while True:
        await wait(0.2)
        if publishes() == before:
            break
        before = publishes()
        assert time.monotonic() < deadline, "PUBLISH calls never stop"
    for i in range(10):
        assert (await a.request("send", to=bob, text="本地 %d 🏠" % i))["status"] == "delivered"
        assert (await b.request("send", to=alice, text="本地回复 %d 🏡" % i))["status"] == "delivered"
    await receive(a, 10)
    await receive(b, 10)
    assert publishes() == before

    # The counter is live: a message to another node's user is one publish.
    await a.request("send", to=carol, text="跨节点 🌉")
    await c.event(type="message")
    assert publishes() == before + 1


@pytest_twisted.ensureDeferred
async def test_nodes_started_together_relay_at_once():
    """
    Two nodes started at the same moment on their own Redis know each other
    as soon as they answer, not only after their next heartbeat (10 s
    here): group messages cross between them at once, both ways.
    """
    pair = Cluster()
    try:
        pair.redis.start()
        pair.start("nodeS1", "nodeS2", timeout=30)
        for sender, receiver in (("nodeS1", "nodeS2"), ("nodeS2", "nodeS1")):
            a = await pair.user("同时甲" + sender, sender)
            await a.request("group.create", group="同时群" + sender)
            b = await pair.user("同时乙" + sender, receiver)
            await b.request("group.join", group="同时群" + sender)
            sent = await a.request("group.send", group="同时群" + sender, text="一起启动 🚀")
            event = await b.event(type="message", group="同时群" + sender, timeout=2)
            assert event["msg_id"] == sent["msg_id"]
    finally:
        await pair.closeClients()
        pair.stop()


@pytest_twisted.ensureDeferred
async def test_killed_node_users_go_offline_and_lose_nothing(cluster):
    (victim, other, neighbour, sender, group) = names("受害者", "同伴", "邻居", "发信人", "邻里")
    cluster.start("nodeK")
    n = await cluster.user(neighbour, "nodeA")
    await n.request("group.create", group=group)
    v = await cluster.user(victim, "nodeK")
    await v.request("group.join", group=group)
    await cluster.user(other, "nodeK")
    s = await cluster.user(sender, "nodeB")
    page = await n.request("users")
    assert {victim, other} <= {u["user"] for u in page["users"]}

    # The last message v saw live; the next ones it never acks.
    first = await s.request("send", to=victim, text="杀死之前 🔪")
    assert (await v.event(type="message"))["msg_id"] == first["msg_id"]

    killed = time.monotonic()
    cluster.nodes["nodeK"].kill()
    # Sent before anyone noticed: the live copy is lost with the node.
    during = await s.request("send", to=victim, text="节点刚死 ⚰️")

    await n.event(type="presence", user=victim, status="offline", timeout=NODE_TIMEOUT + 4)
    elapsed = time.monotonic() - killed
    # The liveness key lives NODE_TIMEOUT seconds; other nodes check every
    # NODE_TIMEOUT / 3 seconds.
    assert elapsed <= NODE_TIMEOUT + NODE_TIMEOUT / 3 + 1, elapsed
    page = await n.request("users")
    listed = {u["user"] for u in page["users"]}
    assert victim not in listed and other not in listed
    assert page["total"] == len(listed)
    members = await n.request("group.members", group=group)
    assert {m["user"]: m["online"] for m in members["members"]}[victim] is False
    assert cluster.redisCall("EXISTS", keys.locations(victim)) == 0
    assert "nodeK" not in cluster.redisCall("SMEMBERS", keys.NODES)

    after = await s.request("send", to=victim, text="死后 📮")
    assert after["status"] == "stored"

    again = await cluster.user(victim, "nodeC", register=False)
    pushed = await receive(again, 3)
    # Nothing more may come (no event says the push is over): a moment.
    await settle(again)
    pushed = again.messages()
    assert ids(pushed) == [first["msg_id"], during["msg_id"], after["msg_id"]]
    assert all(e["offline"] for e in pushed)
    assert [e["text"] for e in pushed] == ["杀死之前 🔪", "节点刚死 ⚰️", "死后 📮"]
