"""
The C{history} request, on the in-memory store and on a real Redis over
loopback TCP: pages, their edges and their errors.
"""

import pytest
import pytest_twisted

pytestmark = pytest.mark.stores("memory", "redis")

from tests.support.chatting import ids, sendMany
from tests.support.wire import WireError


async def pages(client, limit, **conversation):
    """
    Every page of a conversation, newest page first, following C{before}.
    """
    found = []
    before = None
    while True:
        fields = dict(conversation, limit=limit)
        if before is not None:
            fields["before"] = before
        page = await client.request("history", **fields)
        found.append(page)
        if not page["more"]:
            return found
        before = page["messages"][0]["msg_id"]


@pytest_twisted.ensureDeferred
async def test_empty_conversation(chat):
    alice = await chat.user("alice")
    await chat.user("bob")
    assert (await alice.request("history", **{"with": "bob"}))["messages"] == []
    page = await alice.request("history", **{"with": "bob"})
    assert page == {"type": "ok", "id": page["id"], "messages": [], "more": False}
    await alice.request("group.create", group="空")
    page = await alice.request("history", group="空")
    assert page["messages"] == [] and page["more"] is False


@pytest_twisted.ensureDeferred
async def test_pages_oldest_first_with_more(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    oks = await sendMany(alice, 7, to="bob", text="历史 {i} 📜")
    found = await pages(bob, 3, **{"with": "alice"})
    assert [len(p["messages"]) for p in found] == [3, 3, 1]
    assert [p["more"] for p in found] == [True, True, False]
    # Each page is oldest first; the pages go back in time.
    flat = [m for p in reversed(found) for m in p["messages"]]
    assert ids(flat) == ids(oks)
    first = flat[0]
    assert first == {
        "msg_id": oks[0]["msg_id"], "from": "alice", "to": "bob", "text": "历史 0 📜", "ts": oks[0]["ts"],
    }
    # Both sides see the same conversation.
    assert ids((await alice.request("history", **{"with": "bob"}))["messages"]) == ids(oks)


@pytest_twisted.ensureDeferred
async def test_exactly_limit_messages(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    oks = await sendMany(alice, 5, to="bob")
    page = await bob.request("history", limit=5, **{"with": "alice"})
    assert ids(page["messages"]) == ids(oks) and page["more"] is False
    page = await bob.request("history", limit=4, **{"with": "alice"})
    assert ids(page["messages"]) == ids(oks[1:]) and page["more"] is True
    page = await bob.request("history", limit=4, before=oks[1]["msg_id"], **{"with": "alice"})
    assert ids(page["messages"]) == ids(oks[:1]) and page["more"] is False


@pytest_twisted.ensureDeferred
async def test_before_the_first_message(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    oks = await sendMany(alice, 3, to="bob")
    page = await bob.request("history", before=oks[0]["msg_id"], **{"with": "alice"})
    assert page["messages"] == [] and page["more"] is False
    page = await bob.request("history", before="1-0", **{"with": "alice"})
    assert page["messages"] == [] and page["more"] is False
    # A before past the newest message gives the newest page.
    page = await bob.request("history", before="99999999999999-0", **{"with": "alice"})
    assert ids(page["messages"]) == ids(oks)


@pytest_twisted.ensureDeferred
async def test_default_and_bounds_of_limit(chat):
    await chat.user("alice")
    bob = await chat.user("bob")
    # 205 messages: over both the default page (50) and the largest (200);
    # stored through the server's store, faster than any send rate limit.
    oks = []
    for i in range(205):
        stored = await chat.service.store.messages.sendGroup("lobby", "alice", "第%d条" % i)
        oks.append({"msg_id": stored.msgId})
    page = await bob.request("history", group="lobby")
    assert ids(page["messages"]) == ids(oks[-50:]) and page["more"] is True
    page = await bob.request("history", group="lobby", limit=200)
    assert ids(page["messages"]) == ids(oks[-200:]) and page["more"] is True
    page = await bob.request("history", group="lobby", limit=1)
    assert ids(page["messages"]) == ids(oks[-1:]) and page["more"] is True
    for limit in (0, 201, -1, "10", 1.5, True):
        with pytest.raises(WireError) as e:
            await bob.request("history", group="lobby", limit=limit)
        assert e.value.code == "bad_request", limit
        assert "limit" in e.value.reply["message"]


@pytest_twisted.ensureDeferred
async def test_history_errors(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    await alice.request("group.create", group="秘密")
    await alice.request("group.send", group="秘密", text="只给成员")
    for fields, code in [
        ({"group": "秘密"}, "not_member"),
        ({"group": "没有这个群"}, "no_such_group"),
        ({"with": "nobody"}, "no_such_user"),
        ({}, "bad_request"),
        ({"with": "alice", "group": "lobby"}, "bad_request"),
        ({"with": "alice", "before": "yesterday"}, "bad_request"),
    ]:
        with pytest.raises(WireError) as e:
            await bob.request("history", **fields)
        assert e.value.code == code, fields


@pytest_twisted.ensureDeferred
async def test_group_history_shows_every_member(chat):
    alice = await chat.user("alice")
    bob = await chat.user("bob")
    a = await alice.request("group.send", group="lobby", text="大家好")
    b = await bob.request("group.send", group="lobby", text="你好 👋")
    page = await alice.request("history", group="lobby")
    assert [(m["from"], m["group"], m["text"], m["msg_id"]) for m in page["messages"]] == [
        ("alice", "lobby", "大家好", a["msg_id"]), ("bob", "lobby", "你好 👋", b["msg_id"]),
    ]
    assert all("offline" not in m and "type" not in m for m in page["messages"])
