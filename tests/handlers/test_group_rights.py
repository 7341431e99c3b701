# -*- test-case-name: tests.handlers.test_group_rights -*-
"""
Groups people can run (protocol 1.1), on both stores: private and public
groups, the history rule, roles, add, kick, ban, settings, deletion, the
directory, paged members, and server admins.
"""

import pytest
import pytest_twisted

from tests.support.chatting import caughtUp, ids, login, logout, offline, receive, sendMany, settle
from tests.support.wire import WireError

pytestmark = pytest.mark.stores("memory", "redis")

ADMINS = frozenset({"管理员"})


async def expectError(client, code, kind, **fields):
    with pytest.raises(WireError) as e:
        await client.request(kind, **fields)
    assert e.value.code == code, (kind, fields, e.value.reply)
    return e.value.reply


def groupEvents(client, **match):
    return [e for e in client.events if e.get("type") == "group" and all(e.get(k) == v for k, v in match.items())]


async def names(client, group):
    return [m["user"] for m in (await client.request("group.members", group=group))["members"]]


@pytest_twisted.ensureDeferred
async def test_private_group_is_invisible_to_outsiders(chat):
    """
    Nobody outside a private group learns what is said in it, or who is in
    it; it is not in the directory; joining it is forbidden.
    """
    owner = await chat.user("张三")
    outsider = await chat.user("陌生人")
    assert (await owner.request("group.create", group="项目组", visibility="private", title="内部 🔒"))
    await owner.request("group.send", group="项目组", text="机密 🤫")
    await expectError(outsider, "forbidden", "group.join", group="项目组")
    await expectError(outsider, "group_exists", "group.create", group="项目组")
    for kind, extra in [
        ("group.info", {}), ("group.members", {}), ("group.send", {"text": "x"}), ("history", {}),
        ("ack", {"upto": "1-0"}), ("group.leave", {}), ("group.add", {"user": "陌生人"}),
        ("group.kick", {"user": "张三"}), ("group.ban", {"user": "张三"}), ("group.set", {"title": "x"}),
        ("group.role", {"user": "张三", "role": "admin"}), ("group.delete", {}),
    ]:
        await expectError(outsider, "not_member", kind, group="项目组", **extra)
    assert (await outsider.request("group.directory"))["groups"] == [
        {"group": "lobby", "title": "", "members": 2}]
    assert (await outsider.request("group.list"))["groups"] == ["lobby"]
    info = await owner.request("group.info", group="项目组")
    assert info == {"type": "ok", "id": info["id"], "group": "项目组", "title": "内部 🔒", "visibility": "private",
                    "history": "joined", "owner": "张三", "members": 1, "role": "owner"}
    await settle(outsider)
    assert offline(outsider) == []


@pytest_twisted.ensureDeferred
async def test_owner_adds_to_a_private_group_and_the_new_member_sees_from_joining(chat):
    owner = await chat.user("张三")
    await owner.request("group.create", group="项目组", visibility="private")
    before = await sendMany(owner, 2, kind="group.send", group="项目组", text="加入前 {i}")
    newcomer = await chat.user("李四")
    newcomer2 = await login(chat, "李四")
    reply = await owner.request("group.add", group="项目组", user="李四")
    assert (reply["group"], reply["user"]) == ("项目组", "李四")
    for client in (newcomer, newcomer2):
        event = await client.event(type="group", event="added")
        assert event == {"type": "group", "group": "项目组", "user": "李四", "event": "added", "by": "张三"}
    # Live from now on, on every device.
    after = await owner.request("group.send", group="项目组", text="欢迎 🎉")
    for client in (newcomer, newcomer2):
        assert ids(await receive(client, 1, group="项目组")) == [after["msg_id"]]
    # "joined": history starts at the joining.
    history = (await newcomer.request("history", group="项目组"))["messages"]
    assert ids(history) == [after["msg_id"]]
    assert not set(ids(before)) & set(ids(history))
    # Adding again changes nothing; adding an unknown user is refused.
    await owner.request("group.add", group="项目组", user="李四")
    await expectError(owner, "no_such_user", "group.add", group="项目组", user="没这个人")
    # A plain member may not add to a private group.
    await chat.user("王五")
    await expectError(newcomer, "forbidden", "group.add", group="项目组", user="王五")
    assert await names(owner, "项目组") == ["张三", "李四"]
    detail = (await newcomer.request("group.list"))["detail"]
    assert {"group": "项目组", "title": "", "role": "member", "visibility": "private"} in detail


@pytest_twisted.ensureDeferred
async def test_shared_history_shows_older_messages_but_does_not_push_them(chat):
    owner = await chat.user("张三")
    await owner.request("group.create", group="读书会", title="每周一本 📚")
    before = await owner.request("group.send", group="读书会", text="第一本")
    member = await chat.user("李四")
    # Any member of a public group may add someone.
    await owner.request("group.add", group="读书会", user="李四")
    await chat.user("王五")
    await member.request("group.add", group="读书会", user="王五")
    assert ids((await member.request("history", group="读书会"))["messages"]) == [before["msg_id"]]
    await logout(chat, member)
    member = await login(chat, "李四")
    await caughtUp(chat, member)
    assert offline(member) == []
    # The rule changed to "joined" applies to those who join afterwards.
    await owner.request("group.set", group="读书会", history="joined")
    late = await chat.user("赵六")
    await late.request("group.join", group="读书会")
    assert (await late.request("history", group="读书会"))["messages"] == []
    assert ids((await member.request("history", group="读书会"))["messages"]) == [before["msg_id"]]


@pytest_twisted.ensureDeferred
async def test_kicked_member_gets_nothing_more(chat):
    owner = await chat.user("张三")
    troll = await chat.user("捣蛋鬼")
    troll2 = await login(chat, "捣蛋鬼")
    await owner.request("group.create", group="讨论")
    await troll.request("group.join", group="讨论")
    witness = await chat.user("李四")
    await witness.request("group.join", group="讨论")
    await owner.request("group.kick", group="讨论", user="捣蛋鬼")
    for client in (troll, troll2, witness):
        event = await client.event(type="group", event="kicked")
        assert event == {"type": "group", "group": "讨论", "user": "捣蛋鬼", "event": "kicked", "by": "张三"}
    await owner.request("group.send", group="讨论", text="清净了 😌")
    await receive(witness, 1, group="讨论")
    await settle(troll)
    await settle(troll2, 0)
    assert offline(troll) == [] and offline(troll2) == []
    await expectError(troll, "not_member", "history", group="讨论")
    await expectError(troll, "not_member", "group.send", group="讨论", text="喂")
    assert (await troll.request("group.list"))["groups"] == ["lobby"]
    await logout(chat, troll, troll2)
    troll = await login(chat, "捣蛋鬼")
    await caughtUp(chat, troll)
    assert offline(troll) == []
    # Kicked, not banned: it may come back to a public group.
    await troll.request("group.join", group="讨论")
    await expectError(owner, "not_member", "group.kick", group="讨论", user="没人")


@pytest_twisted.ensureDeferred
async def test_ban_keeps_out_until_unbanned(chat):
    owner = await chat.user("张三")
    troll = await chat.user("捣蛋鬼")
    await owner.request("group.create", group="讨论")
    await troll.request("group.join", group="讨论")
    await owner.request("group.ban", group="讨论", user="捣蛋鬼")
    event = await troll.event(type="group", event="banned")
    assert event["by"] == "张三"
    await expectError(troll, "forbidden", "group.join", group="讨论")
    await expectError(owner, "forbidden", "group.add", group="讨论", user="捣蛋鬼")
    assert await names(owner, "讨论") == ["张三"]
    # Banning someone not in the group keeps it out too.
    await chat.user("路人")
    await owner.request("group.ban", group="讨论", user="路人")
    await expectError(owner, "no_such_user", "group.ban", group="讨论", user="没这个人")
    await owner.request("group.unban", group="讨论", user="捣蛋鬼")
    await troll.request("group.join", group="讨论")
    assert await names(owner, "讨论") == ["张三", "捣蛋鬼"]


@pytest_twisted.ensureDeferred
async def test_roles_decide_who_may_remove_whom(chat):
    owner = await chat.user("张三")
    admin = await chat.user("李四")
    admin2 = await chat.user("王五")
    member = await chat.user("赵六")
    await owner.request("group.create", group="团队")
    for client in (admin, admin2, member):
        await client.request("group.join", group="团队")
    await owner.request("group.role", group="团队", user="李四", role="admin")
    event = await member.event(type="group", event="role")
    assert event == {"type": "group", "group": "团队", "user": "李四", "event": "role", "role": "admin", "by": "张三"}
    await owner.request("group.role", group="团队", user="王五", role="admin")
    await expectError(member, "forbidden", "group.kick", group="团队", user="李四")
    await expectError(member, "forbidden", "group.set", group="团队", title="x")
    await expectError(admin, "forbidden", "group.kick", group="团队", user="王五")
    await expectError(admin, "forbidden", "group.ban", group="团队", user="张三")
    await expectError(admin, "forbidden", "group.role", group="团队", user="赵六", role="admin")
    await expectError(admin, "forbidden", "group.delete", group="团队")
    await expectError(admin, "bad_request", "group.kick", group="团队", user="李四")
    await admin.request("group.set", group="团队", title="新标题 ✨")
    event = await member.event(type="group", event="updated")
    assert (event["title"], event["by"]) == ("新标题 ✨", "李四")
    await admin.request("group.kick", group="团队", user="赵六")
    members = (await owner.request("group.members", group="团队"))["members"]
    assert [(m["user"], m["role"]) for m in members] == [("张三", "owner"), ("李四", "admin"), ("王五", "admin")]
    # Handing over ownership: the old owner becomes an admin.
    await owner.request("group.role", group="团队", user="王五", role="owner")
    info = await owner.request("group.info", group="团队")
    assert (info["owner"], info["role"]) == ("王五", "admin")
    await expectError(owner, "forbidden", "group.role", group="团队", user="李四", role="member")
    await expectError(admin2, "forbidden", "group.role", group="团队", user="王五", role="admin")


@pytest_twisted.ensureDeferred
async def test_ownership_passes_on_leave_and_an_empty_group_is_deleted(chat):
    owner = await chat.user("张三")
    first = await chat.user("李四")
    admin = await chat.user("王五")
    await owner.request("group.create", group="接力")
    await first.request("group.join", group="接力")
    await admin.request("group.join", group="接力")
    await owner.request("group.role", group="接力", user="王五", role="admin")
    await first.event(type="group", event="role", role="admin")
    await owner.request("group.leave", group="接力")
    event = await first.event(type="group", event="role", role="owner")
    assert (event["user"], event["by"]) == ("王五", "张三")
    assert (await first.request("group.info", group="接力"))["owner"] == "王五"
    # No admin left: the longest-standing member.
    await admin.request("group.leave", group="接力")
    assert (await first.request("group.info", group="接力"))["owner"] == "李四"
    await first.request("group.send", group="接力", text="最后一句")
    await first.request("group.leave", group="接力")
    await expectError(first, "no_such_group", "group.info", group="接力")
    # The name is free again, and the new group shows nothing of the old.
    await owner.request("group.create", group="接力")
    assert (await owner.request("history", group="接力"))["messages"] == []


@pytest_twisted.ensureDeferred
async def test_delete_tells_the_members_and_frees_the_name(chat):
    owner = await chat.user("张三")
    member = await chat.user("李四")
    await owner.request("group.create", group="旧群")
    await member.request("group.join", group="旧群")
    old = await member.request("group.send", group="旧群", text="旧消息", cid="c-1")
    await expectError(member, "forbidden", "group.delete", group="旧群")
    await owner.request("group.delete", group="旧群")
    event = await member.event(type="group", event="deleted")
    assert event == {"type": "group", "group": "旧群", "user": "张三", "event": "deleted", "by": "张三"}
    await expectError(member, "no_such_group", "history", group="旧群")
    assert (await member.request("group.list"))["groups"] == ["lobby"]
    await member.request("group.create", group="旧群")
    assert (await member.request("history", group="旧群"))["messages"] == []
    # The same cid in the new group is a new message.
    new = await member.request("group.send", group="旧群", text="新消息", cid="c-1")
    assert new["msg_id"] != old["msg_id"]
    assert [m["text"] for m in (await member.request("history", group="旧群"))["messages"]] == ["新消息"]
    await settle(owner)
    assert [e["text"] for e in offline(owner)] == ["旧消息"]


@pytest_twisted.ensureDeferred
async def test_lobby_and_server_admins(make_chat):
    chat = await make_chat(admins=ADMINS)
    root = await chat.user("管理员")
    owner = await chat.user("张三")
    await chat.user("捣蛋鬼")
    info = await owner.request("group.info", group="lobby")
    assert (info["owner"], info["visibility"], info["history"], info["role"]) == (None, "public", "shared", "member")
    await expectError(owner, "forbidden", "group.set", group="lobby", title="x")
    await expectError(root, "forbidden", "group.delete", group="lobby")
    await expectError(root, "forbidden", "group.set", group="lobby", visibility="private")
    await expectError(root, "forbidden", "group.role", group="lobby", user="张三", role="owner")
    await root.request("group.set", group="lobby", title="大厅 🏠")
    await root.request("group.role", group="lobby", user="张三", role="admin")
    await owner.request("group.kick", group="lobby", user="捣蛋鬼")
    assert "捣蛋鬼" not in await names(root, "lobby")
    # A private group: the server admin sees it and runs it without being in it.
    await owner.request("group.create", group="秘密", visibility="private")
    secret = await owner.request("group.send", group="秘密", text="只有我们 🤐")
    info = await root.request("group.info", group="秘密")
    assert (info["owner"], info["role"]) == ("张三", None)
    assert await names(root, "秘密") == ["张三"]
    assert ids((await root.request("history", group="秘密"))["messages"]) == [secret["msg_id"]]
    await root.request("group.add", group="秘密", user="捣蛋鬼")
    await root.request("group.kick", group="秘密", user="张三")
    assert (await root.request("group.info", group="秘密"))["owner"] == "捣蛋鬼"
    await root.request("group.delete", group="秘密")
    await expectError(root, "no_such_group", "group.info", group="秘密")


@pytest_twisted.ensureDeferred
async def test_directory_lists_public_groups_by_prefix_a_page_at_a_time(chat):
    owner = await chat.user("张三")
    for name in ["项目A", "项目B", "项目C", "读书会"]:
        await owner.request("group.create", group=name, title="标题 " + name)
    await owner.request("group.create", group="项目私密", visibility="private")
    page = await owner.request("group.directory", prefix="项目", limit=2)
    assert page["groups"] == [{"group": "项目A", "title": "标题 项目A", "members": 1},
                              {"group": "项目B", "title": "标题 项目B", "members": 1}]
    page = await owner.request("group.directory", prefix="项目", limit=2, cursor=page["cursor"])
    assert [g["group"] for g in page["groups"]] == ["项目C"] and page["cursor"] is None
    everything = await owner.request("group.directory")
    assert [g["group"] for g in everything["groups"]] == sorted(["lobby", "项目A", "项目B", "项目C", "读书会"])
    # Made private, deleted: gone from the directory; made public: back.
    await owner.request("group.set", group="项目A", visibility="private")
    await owner.request("group.delete", group="项目B")
    await owner.request("group.set", group="项目私密", visibility="public")
    page = await owner.request("group.directory", prefix="项目")
    assert [g["group"] for g in page["groups"]] == ["项目C", "项目私密"]
    await expectError(owner, "bad_request", "group.directory", limit=201)


@pytest_twisted.ensureDeferred
async def test_members_are_paged_with_roles(chat):
    owner = await chat.user("张三")
    await owner.request("group.create", group="大群")
    joined = []
    for i in range(5):
        name = "成员%d" % i
        member = await chat.user(name)
        await member.request("group.join", group="大群")
        joined.append(name)
    await logout(chat, member)
    seen, cursor = [], None
    while True:
        fields = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
        page = await owner.request("group.members", group="大群", **fields)
        assert page["total"] == 6 and len(page["members"]) <= 2
        seen.extend(page["members"])
        cursor = page["cursor"]
        if cursor is None:
            break
    assert [m["user"] for m in seen] == ["张三"] + joined
    assert seen[0]["role"] == "owner" and seen[-1] == {"user": "成员4", "online": False, "role": "member"}
    await expectError(owner, "bad_request", "group.members", group="大群", limit=1001)
    await expectError(owner, "bad_request", "group.members", group="大群", cursor="bogus")


@pytest_twisted.ensureDeferred
async def test_caps_apply_to_add(make_chat):
    chat = await make_chat(limits=_limits(maxGroupsPerUser=2, maxGroupMembers=2))
    owner = await chat.user("张三")
    await owner.request("group.create", group="小组")
    busy = await chat.user("忙人")
    await busy.request("group.create", group="自己的")
    await chat.user("闲人")
    await owner.request("group.add", group="小组", user="闲人")
    await expectError(owner, "bad_request", "group.add", group="小组", user="忙人")
    assert await names(owner, "小组") == ["张三", "闲人"]
    await busy.request("group.leave", group="自己的")
    await expectError(owner, "bad_request", "group.add", group="小组", user="忙人")
    assert (await busy.request("group.list"))["groups"] == ["lobby"]


@pytest_twisted.ensureDeferred
async def test_bad_fields_are_refused(chat):
    owner = await chat.user("张三")
    await expectError(owner, "bad_request", "group.create", group="g", visibility="secret")
    await expectError(owner, "bad_request", "group.create", group="g", history="never")
    await expectError(owner, "bad_request", "group.create", group="g", title="长" * 65)
    await owner.request("group.create", group="g", title="")
    await expectError(owner, "bad_request", "group.set", group="g")
    await expectError(owner, "bad_request", "group.role", group="g", user="张三", role="king")
    assert (await owner.request("group.list"))["groups"] == ["g", "lobby"]


def _limits(**overrides):
    from chatroom.limits import Limits

    return Limits(**overrides)
