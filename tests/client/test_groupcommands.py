"""
Tests for L{chatroom.client.groupcommands} and the group events' lines:
typed commands in, requests and printed lines out, against a scripted
server.
"""

from chatroom.client import display
from chatroom.client.conversation import Conversation
from tests.client.test_console import loggedIn


def run(line, reply=None, **fields):
    """
    Type C{line} as a logged-in user; answer its one request with C{ok}
    and C{fields}: the request and what was printed.
    """
    reactor, console, wire, screen = loggedIn("张三")
    console.lineReceived(line)
    [request] = wire.sent()
    wire.ok(request, **fields)
    return request, screen.take(), console


def test_create_private_with_a_title():
    request, text, console = run("/create 项目组 private 发布 准备 🚀", group="项目组")
    assert (request["type"], request["group"], request["visibility"], request["title"]) == \
        ("group.create", "项目组", "private", "发布 准备 🚀")
    assert "* you created private #项目组 “发布 准备 🚀”" in text and "项目组" in console.groups
    request, _, _ = run("/create 读书会", group="读书会")
    assert request["visibility"] == "public" and "title" not in request


def test_moderation_names_the_group_or_takes_the_conversation():
    for command, kind, extra in [
        ("add", "group.add", {}), ("kick", "group.kick", {}), ("ban", "group.ban", {}),
        ("unban", "group.unban", {}), ("op", "group.role", {"role": "admin"}),
        ("deop", "group.role", {"role": "member"}), ("owner", "group.role", {"role": "owner"}),
    ]:
        request, text, _ = run("/%s #项目组 李四" % (command,))
        assert request == dict(extra, type=kind, group="项目组", user="李四", id=request["id"])
        assert "李四" in text and "#项目组" in text
    reactor, console, wire, screen = loggedIn("张三")
    console.conversation = Conversation(group="项目组")
    console.lineReceived("/kick 捣蛋鬼")
    [kick] = wire.sent()
    assert (kick["group"], kick["user"]) == ("项目组", "捣蛋鬼")
    console.conversation = None
    console.lineReceived("/kick 捣蛋鬼")
    assert wire.sent() == [] and "! usage: /kick [#GROUP] USER" in screen.take()


def test_settings():
    request, text, _ = run("/topic #项目组 新的 标题")
    assert request == {"type": "group.set", "group": "项目组", "title": "新的 标题", "id": request["id"]}
    assert "* #项目组: title “新的 标题”" in text
    request, _, _ = run("/private #项目组")
    assert request["visibility"] == "private"
    request, _, _ = run("/public 项目组")
    assert request["visibility"] == "public"
    request, text, _ = run("/history joined #项目组")
    assert (request["type"], request["history"]) == ("group.set", "joined")
    assert "history from joining" in text
    request, text, _ = run("/topic #项目组", group="项目组", title="标题", visibility="private", history="joined",
                           owner="张三", members=3, role="owner")
    assert request["type"] == "group.info"
    assert "#项目组 “标题”: private, history from joining, 3 members, owner 张三, you are owner" in text


def test_delgroup_needs_the_name():
    reactor, console, wire, screen = loggedIn("张三")
    console.conversation = Conversation(group="旧群")
    console.lineReceived("/delgroup")
    assert wire.sent() == [] and "usage" in screen.take()
    console.lineReceived("/delgroup #旧群")
    [delete] = wire.sent()
    wire.ok(delete)
    assert delete["type"] == "group.delete" and console.conversation is None
    assert "* you deleted #旧群" in screen.take()


def test_members_and_directory_are_paged():
    reactor, console, wire, screen = loggedIn("张三")
    console.lineReceived("/members #大群")
    [first] = wire.sent()
    assert first["limit"] == 50 and "cursor" not in first
    wire.ok(first, members=[{"user": "张三", "online": True, "role": "owner"}], cursor="7", total=60)
    assert "/members #大群 more" in screen.take()
    console.lineReceived("/members #大群 more")
    [second] = wire.sent()
    assert second["cursor"] == "7"
    console.lineReceived("/directory 读")
    [directory] = wire.sent()
    assert directory["prefix"] == "读"
    wire.ok(directory, groups=[{"group": "读书会", "title": "每周一本 📚", "members": 12}], cursor=None)
    assert "#读书会  12 members  每周一本 📚" in screen.take()


def test_group_events_are_one_readable_line():
    now = 1_800_000_000
    line = display.groupChange({"type": "group", "group": "项目组", "user": "李四", "event": "added", "by": "张三"}, now)
    assert line.endswith("* 李四 was added to #项目组 by 张三")
    cases = [
        ({"event": "kicked"}, "* 李四 was removed from #项目组 by 张三"),
        ({"event": "banned"}, "* 李四 was banned from #项目组 by 张三"),
        ({"event": "role", "role": "admin"}, "* 李四 is now an admin of #项目组 (by 张三)"),
        ({"event": "role", "role": "owner"}, "* 李四 is now the owner of #项目组 (by 张三)"),
        ({"event": "updated", "title": "新\x1b[2J"}, "* 张三 changed #项目组: title “新\ufffd[2J”"),
        ({"event": "deleted"}, "* #项目组 was deleted by 张三"),
        ({"event": "joined"}, "* 李四 joined #项目组"),
    ]
    for fields, expected in cases:
        event = dict({"type": "group", "group": "项目组", "user": "李四", "by": "张三"}, **fields)
        assert display.groupChange(event, now).endswith(expected), (fields, display.groupChange(event, now))


def test_removal_events_follow_my_groups():
    reactor, console, wire, screen = loggedIn("张三")
    wire.push({"type": "group", "group": "新组", "user": "张三", "event": "added", "by": "李四"})
    assert "新组" in console.groups
    console.conversation = Conversation(group="新组")
    wire.push({"type": "group", "group": "新组", "user": "张三", "event": "kicked", "by": "李四"})
    assert "新组" not in console.groups and console.conversation is None
    assert "* 张三 was removed from #新组 by 李四" in screen.take()
