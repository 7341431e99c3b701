# -*- test-case-name: tests.handlers.test_group_races -*-
"""
Running a group on real Redis: requests changing one group at the same
moment from several connections leave it consistent (rights are checked in
the script that makes the change), and a removal on one node stops
delivery on the others.
"""

import pytest
import pytest_twisted
from twisted.internet import defer

from tests.support.chatting import offline, receive, settle
from tests.support.wire import WireError

pytestmark = pytest.mark.stores("redis")


async def outcomes(*requests):
    """
    The replies of requests sent together: C{"ok"} or the error code.
    """
    results = await defer.DeferredList(list(requests), consumeErrors=True)
    return ["ok" if success else result.value.code if result.check(WireError) else result
            for success, result in results]


async def consistent(client, group):
    """
    The members of C{group} with their roles, checked against each other:
    one owner, the total right.
    """
    page = await client.request("group.members", group=group, limit=1000)
    members = {m["user"]: m["role"] for m in page["members"]}
    assert page["total"] == len(members)
    assert list(members.values()).count("owner") == 1
    info = await client.request("group.info", group=group)
    assert info["members"] == len(members) and members[info["owner"]] == "owner"
    return members


@pytest_twisted.ensureDeferred
async def test_an_add_racing_a_ban_never_leaves_a_banned_member(chat):
    owner = await chat.user("张三")
    admin = await chat.user("李四")
    await owner.request("group.create", group="战场")
    await admin.request("group.join", group="战场")
    await owner.request("group.role", group="战场", user="李四", role="admin")
    names = ["来客%02d" % i for i in range(12)]
    guests = [await chat.user(name) for name in names]
    for name in names:
        added, banned = await outcomes(owner.request("group.add", group="战场", user=name),
                                       admin.request("group.ban", group="战场", user=name))
        assert added in ("ok", "forbidden") and banned == "ok"
    members = await consistent(owner, "战场")
    assert set(members) == {"张三", "李四"}
    for guest in guests:
        assert (await guest.request("group.list"))["groups"] == ["lobby"]
        with pytest.raises(WireError) as e:
            await guest.request("group.join", group="战场")
        assert e.value.code == "forbidden"


@pytest_twisted.ensureDeferred
async def test_admins_kicking_each_other_while_demoted(chat):
    owner = await chat.user("张三")
    a = await chat.user("甲")
    b = await chat.user("乙")
    for round in range(8):
        group = "擂台%d" % round
        await owner.request("group.create", group=group)
        for client, name in ((a, "甲"), (b, "乙")):
            await client.request("group.join", group=group)
            await owner.request("group.role", group=group, user=name, role="admin")
        results = await outcomes(
            a.request("group.kick", group=group, user="乙"),
            owner.request("group.role", group=group, user="甲", role="member"),
            b.request("group.kick", group=group, user="甲"),
            owner.request("group.role", group=group, user="乙", role="member"),
        )
        kickedB, _, kickedA, _ = results
        # An admin may not kick an admin: only one demoted first can go,
        # and never both.
        assert not (kickedA == "ok" and kickedB == "ok"), results
        members = await consistent(owner, group)
        assert ("乙" in members) == (kickedB != "ok") and ("甲" in members) == (kickedA != "ok")
        assert all(role != "admin" for user, role in members.items()), members


async def twoNodes(make_chat, store):
    first = await make_chat(node="节点A")
    # In memory, the second node shares the first's data and clock.
    shared = {"data": first.store.data, "clock": first.clock} if store == "memory" else {}
    second = await make_chat(node="节点B", **shared)
    await first.until(lambda: first.service.relay.multiNode and second.service.relay.multiNode, timeout=10)
    return first, second


@pytest.mark.stores("memory", "redis")
@pytest_twisted.ensureDeferred
async def test_a_kick_on_one_node_stops_delivery_on_another(make_chat, store):
    nodeA, nodeB = await twoNodes(make_chat, store)
    owner = await nodeA.user("张三")
    troll = await nodeB.user("捣蛋鬼")
    trollA = await nodeA.user("捣蛋鬼", register=False)
    witness = await nodeB.user("李四")
    await owner.request("group.create", group="跨节点", visibility="private")
    for name in ("捣蛋鬼", "李四"):
        await owner.request("group.add", group="跨节点", user=name)
    for client in (troll, trollA):
        await client.event(type="group", event="added", user="捣蛋鬼")
        await client.event(type="group", event="added", user="李四")
    await witness.event(type="group", event="added", user="李四")
    first = await owner.request("group.send", group="跨节点", text="大家好")
    for client in (troll, trollA, witness):
        await receive(client, 1, group="跨节点")
    await owner.request("group.kick", group="跨节点", user="捣蛋鬼")
    for client in (troll, trollA, witness):
        event = await client.event(type="group", event="kicked")
        assert (event["user"], event["by"]) == ("捣蛋鬼", "张三")
    after = await witness.request("group.send", group="跨节点", text="他走了 👋")
    again = await owner.request("group.send", group="跨节点", text="继续 📌")
    await receive(owner, 1, msg_id=after["msg_id"])
    await receive(witness, 1, msg_id=again["msg_id"])
    for client in (troll, trollA):
        await settle(client)
        assert [e["msg_id"] for e in offline(client)] == [first["msg_id"]]
        assert [e for e in client.events if e.get("event") == "kicked"] == []
    # Deleted on node A: node B's members are told and get nothing more.
    await owner.request("group.delete", group="跨节点")
    event = await witness.event(type="group", event="deleted")
    assert event["by"] == "张三"
    assert nodeB.service.registry.members("跨节点") == ()
    with pytest.raises(WireError) as e:
        await witness.request("history", group="跨节点")
    assert e.value.code == "no_such_group"
