"""
C{chatroom-admin} against a real C{twistd chatroom} and its embedded
Redis (and a Redis Cluster): what each command prints, as text and as
JSON, after users registered, logged in and joined groups through the
protocol; a password reset, a ban, an account and a group deleted, with
the connections they close on every node (two twistd on one Redis, and a
Redis Cluster); where it finds Redis (data directory, C{--config},
C{CHATROOM_REDIS_URL}); and its exit statuses.
"""

import json
import os
import subprocess
import sys

import pexpect
import pytest
import pytest_twisted
from twisted.internet import threads

from chatroom.admin.commands import COMMANDS
from tests.support.rediscluster import RedisCluster, findRedis7
from tests.support.servers import RedisProcess, startChatServer
from tests.support.twistd import Twistd
from tests.support.wire import WireError, connect

ADMIN = os.path.join(os.path.dirname(sys.executable), "chatroom-admin")


def admin(*args, stdin=None, env=None, cwd=None):
    """
    Run C{chatroom-admin args} (blocking): C{(exit status, stdout,
    stderr)}.
    """
    environment = dict(os.environ)
    environment.pop("CHATROOM_REDIS_URL", None)
    environment.update(env or {})
    done = subprocess.run([ADMIN, *args], input=stdin, capture_output=True, text=True, env=environment,
                          cwd=cwd, timeout=60)
    return done.returncode, done.stdout, done.stderr


def adminLater(*args, **kwargs):
    """
    L{admin} in a thread, so that the test's reactor (and an in-process
    server) keeps running meanwhile.
    """
    return threads.deferToThread(admin, *args, **kwargs)


def adminJSON(*args, **kwargs):
    status, out, err = admin(*args, "--json", **kwargs)
    assert status == 0, (status, out, err)
    return json.loads(out)


@pytest.fixture
def server(tmp_path):
    """
    A running C{twistd chatroom} on its own data directory.
    """
    twistd = Twistd(str(tmp_path / "data"), str(tmp_path / "twistd.log"))
    os.mkdir(twistd.dataDir, 0o700)
    twistd.start()
    yield twistd
    twistd.stop()


async def populate(server):
    """
    张三 (display name 老张) logged in twice, 李四 once, 王五 registered
    only; 张三 made 读书会, which 李四 joined, and wrote in it and to 李四.
    """
    li = await server.ready("李四")
    first = await connect(server.port)
    await first.request("register", user="张三", password="secret", name="老张")
    await first.close()
    zhang = await server.ready("张三", register=False)
    zhang2 = await server.ready("张三", register=False)
    wang = await server.ready("王五")
    await wang.close()
    await zhang.request("group.create", group="读书会")
    await li.request("group.join", group="读书会")
    await zhang.request("group.send", group="读书会", text="大家好 👋")
    await zhang.request("send", to="李四", text="你好")
    return [zhang, zhang2, li]


@pytest_twisted.ensureDeferred
async def test_commands_text_and_json(server):
    clients = await populate(server)
    data = ["--data-dir", server.dataDir]
    try:
        stats = await threads.deferToThread(adminJSON, "stats", *data)
        assert stats["users"] == {"registered": 3, "deleted": 0, "online": 2}
        assert stats["groups"] == 2  # lobby, 读书会
        assert stats["conversations"] == {"direct": 1, "group": 1}
        assert stats["messages"] == 2
        assert len(stats["nodes"]["alive"]) == 1 and stats["nodes"]["dead"] == []
        redis = stats["redis"]
        assert redis["mode"] == "standalone" and redis["masters"] == 1 and redis["aof_enabled"] is True
        assert redis["address"] == "unix:" + os.path.join(server.dataDir, "redis.sock")
        assert redis["keys"] > 5 and redis["version"]
        quick = await threads.deferToThread(adminJSON, "stats", "--no-scan", *data)
        assert quick["users"] == {"registered": None, "deleted": None, "online": 2} and quick["messages"] is None
        status, out, err = await adminLater("stats", *data)
        assert status == 0, err
        assert "3 registered, 2 online" in out and "1 direct, 1 group" in out

        users = await threads.deferToThread(adminJSON, "users", *data)
        assert users == {"users": [{"user": "张三", "name": "老张", "online": True},
                                   {"user": "李四", "name": "李四", "online": True},
                                   {"user": "王五", "name": "王五", "online": False}], "cursor": None}
        status, out, _ = await adminLater("users", *data)
        assert out == "张三  (老张)  online\n李四  online\n王五\n"
        # A page at a time, in name order; the cursor is the last name.
        page = await threads.deferToThread(adminJSON, "users", "--limit", "2", *data)
        assert [u["user"] for u in page["users"]] == ["张三", "李四"] and page["cursor"] == "李四"
        status, out, _ = await adminLater("users", "--limit", "2", *data)
        assert out.endswith("-- more: the same with --after 李四\n")
        page = await threads.deferToThread(adminJSON, "users", "--limit", "2", "--after", "李四", *data)
        assert [u["user"] for u in page["users"]] == ["王五"] and page["cursor"] is None
        assert [u["user"] for u in (await threads.deferToThread(adminJSON, "users", "李", *data))["users"]] == ["李四"]

        user = await threads.deferToThread(adminJSON, "user", "张三", *data)
        node = stats["nodes"]["alive"][0]
        assert user["connections"] == {node: 2} and user["online"] is True
        assert user["groups"] == ["lobby", "读书会"] and user["name"] == "老张"
        assert user["created"] > 1700000000000 and user["banned"] is False
        assert sorted(user) == ["banned", "connections", "created", "groups", "name", "online", "peers", "user"]
        status, out, _ = await adminLater("user", "张三", *data)
        assert "banned:       no\n" in out
        assert "display name: 老张\n" in out and "yes, 2 connection(s): 2 on %s" % (node,) in out
        assert "groups:       2: lobby, 读书会\n" in out
        wang = await threads.deferToThread(adminJSON, "user", "王五", *data)
        assert wang["online"] is False and wang["connections"] == {}

        groups = await threads.deferToThread(adminJSON, "groups", *data)
        assert groups == {"groups": [{"group": "lobby", "members": 3}, {"group": "读书会", "members": 2}],
                          "cursor": None}
        status, out, _ = await adminLater("groups", "读", *data)
        assert out == "读书会  2 members\n"

        group = await threads.deferToThread(adminJSON, "group", "读书会", "--members", *data)
        assert group["creator"] == "张三" and group["members"] == 2 and group["online"] == 2
        assert group["messages"] == 1 and group["last_message"]
        assert group["member_list"] == [{"user": "张三", "online": True}, {"user": "李四", "online": True}]
        status, out, _ = await adminLater("group", "读书会", *data)
        assert "by 张三" in out and "members:      2, 2 online\n" in out and "  张三" not in out
        lobby = await threads.deferToThread(adminJSON, "group", "lobby", *data)
        assert lobby["members"] == 3 and lobby["creator"] is None and lobby["member_list"] is None
    finally:
        for client in clients:
            await client.close()


@pytest_twisted.ensureDeferred
async def test_reset_password(server, tmp_path):
    zhang = await server.ready("张三", password="旧密码")
    data = ["--data-dir", server.dataDir]
    try:
        status, out, err = await adminLater("reset-password", "张三", "--password-stdin", *data,
                                            stdin="新的密码 🔑\n")
        assert status == 0, err
        assert out == "Changed the password of 张三 and closed its connections (1 node told).\n"
        # Whoever logged in with the old password is out, as after password.change.
        await byeWith(zhang, "password_changed")
        client = await connect(server.port)
        with pytest.raises(WireError) as e:
            await client.request("login", user="张三", password="旧密码")
        assert e.value.code == "auth_failed"
        assert (await client.request("login", user="张三", password="新的密码 🔑"))["user"] == "张三"
        await client.close()

        status, out, _ = await adminLater("reset-password", "张三", "--password-stdin", "--json", *data,
                                          stdin="第三个\n")
        assert json.loads(out) == {"user": "张三", "password_changed": True, "sessions_closed": True,
                                   "nodes_told": 1}

        # From the prompt, asked twice: different answers change nothing.
        def prompted(first, second):
            child = pexpect.spawn(ADMIN, ["reset-password", "张三", *data], encoding="utf-8", timeout=30)
            child.expect("New password for 张三: ")
            child.sendline(first)
            child.expect("Again: ")
            child.sendline(second)
            child.expect(pexpect.EOF)
            child.close()
            return child.exitstatus, child.before

        status, out = await threads.deferToThread(prompted, "甲乙丙", "甲乙丁")
        assert status == 2 and "differ" in out
        status, out = await threads.deferToThread(prompted, "甲乙丙", "甲乙丙")
        assert status == 0, out
        client = await connect(server.port)
        assert (await client.request("login", user="张三", password="甲乙丙"))["user"] == "张三"
        await client.close()
    finally:
        await zhang.close()


async def byeWith(client, reason):
    """
    Wait for C{client}'s C{bye} and its connection's end; check the reason.
    """
    bye = await client.event(type="bye")
    assert bye["reason"] == reason, bye
    await client.closed


async def refusedWith(code, d):
    """
    The error C{code} of the request C{d}.
    """
    with pytest.raises(WireError) as e:
        await d
    assert e.value.code == code, e.value
    return e.value


@pytest_twisted.ensureDeferred
async def test_ban_and_unban(server):
    """
    A ban closes every connection of the user with bye "banned" and
    refuses its logins (forbidden) until unban; both are in the security
    log on standard error.
    """
    zhang = await server.ready("张三")
    phone = await server.ready("张三", register=False)
    li = await server.ready("李四")
    data = ["--data-dir", server.dataDir]
    client = None
    try:
        status, out, err = await adminLater("ban", "张三", "--json", *data)
        assert status == 0, err
        assert json.loads(out) == {"user": "张三", "banned": True, "sessions_closed": True, "nodes_told": 1}
        assert "[chatroom.securitylog#warn] chatroom: user banned from - for user '张三': by 'chatroom-admin:" in err
        await byeWith(zhang, "banned")
        await byeWith(phone, "banned")
        # Only the banned user.
        assert (await li.request("ping"))["type"] == "ok" and li.connected
        client = await connect(server.port)
        await refusedWith("forbidden", client.request("login", user="张三", password="secret"))
        user = await threads.deferToThread(adminJSON, "user", "张三", *data)
        assert user["banned"] is True and user["online"] is False
        status, out, _ = await adminLater("user", "张三", *data)
        assert "banned:       yes\n" in out

        status, out, err = await adminLater("unban", "张三", *data)
        assert status == 0 and out == "Lifted the server ban of 张三.\n", err
        assert "chatroom: user unbanned from - for user '张三': by 'chatroom-admin:" in err
        assert (await client.request("login", user="张三", password="secret"))["user"] == "张三"
        assert (await threads.deferToThread(adminJSON, "unban", "张三", *data)) == {"user": "张三", "banned": False}
        status, out, err = await adminLater("ban", "李四", *data)
        assert status == 0 and out == "Banned 李四 from the server and closed its connections (1 node told).\n", err
        await byeWith(li, "banned")
    finally:
        for each in (zhang, phone, li, client):
            if each is not None:
                await each.close()


@pytest_twisted.ensureDeferred
async def test_delete_account(server):
    """
    An account deleted without its password: its connections close with
    bye "account_deleted", its groups hear it left and pass on their
    ownership, it cannot log in, its name stays taken.
    """
    zhang = await server.ready("张三")
    li = await server.ready("李四")
    data = ["--data-dir", server.dataDir]
    client = await connect(server.port)
    try:
        await zhang.request("group.create", group="读书会")
        await li.request("group.join", group="读书会")
        status, out, err = await adminLater("delete", "张三", "--json", *data)
        assert status == 0, err
        assert json.loads(out) == {"user": "张三", "deleted": True, "groups_left": ["lobby", "读书会"],
                                   "sessions_closed": True, "nodes_told": 1}
        await byeWith(zhang, "account_deleted")
        left = await li.event(type="group", group="读书会")
        assert (left["user"], left["event"]) == ("张三", "left")
        assert (await li.request("group.info", group="读书会"))["owner"] == "李四"
        await refusedWith("auth_failed", client.request("login", user="张三", password="secret"))
        await refusedWith("user_exists", client.request("register", user="张三", password="另一个"))
        # Counted and listed apart from the living accounts.
        stats = await threads.deferToThread(adminJSON, "stats", *data)
        assert (stats["users"]["registered"], stats["users"]["deleted"]) == (1, 1)
        status, out, err = await adminLater("stats", *data)
        assert "1 registered, 1 online, 1 deleted" in out, (out, err)
        users = await threads.deferToThread(adminJSON, "users", *data)
        assert [u["user"] for u in users["users"]] == ["李四"]
        status, out, err = await adminLater("user", "张三", *data)
        assert status == 1 and "deleted account" in err
        status, out, err = await adminLater("delete", "张三", *data)
        assert status == 1 and "no such user: 张三" in err
        # A new password does not bring it back.
        status, out, err = await adminLater("reset-password", "张三", "--password-stdin", *data, stdin="复活\n")
        assert status == 1, (out, err)
        await refusedWith("auth_failed", client.request("login", user="张三", password="复活"))

        status, out, err = await adminLater("delete", "李四", *data)
        assert status == 0, err
        assert out == ("Deleted the account 李四 (left 2 groups: lobby, 读书会) and closed its connections "
                       "(1 node told).\n")
        await byeWith(li, "account_deleted")
    finally:
        for each in (zhang, li, client):
            await each.close()


@pytest_twisted.ensureDeferred
async def test_group_delete(server):
    """
    A group deleted by chatroom-admin: its members get the deleted event,
    then nothing more of it; the lobby is refused.
    """
    zhang = await server.ready("张三")
    li = await server.ready("李四")
    data = ["--data-dir", server.dataDir]
    try:
        await zhang.request("group.create", group="读书会")
        await li.request("group.join", group="读书会")
        await zhang.request("group.send", group="读书会", text="大家好 👋")
        status, out, err = await adminLater("group-delete", "读书会", "--json", *data)
        assert status == 0, err
        assert json.loads(out) == {"group": "读书会", "deleted": True, "members": 2, "by": "chatroom-admin",
                                   "nodes_told": 1}
        for client in (zhang, li):
            event = await client.event(type="group", group="读书会", event="deleted")
            assert event["by"] == "chatroom-admin" and event["user"] == "chatroom-admin"
            await refusedWith("no_such_group", client.request("history", group="读书会"))
            assert (await client.request("group.list"))["groups"] == ["lobby"]
        await refusedWith("no_such_group", li.request("group.send", group="读书会", text="还在吗"))
        status, out, err = await adminLater("group", "读书会", *data)
        assert status == 1
        status, out, err = await adminLater("group-delete", "读书会", *data)
        assert status == 1 and "no such group: 读书会" in err
        status, out, err = await adminLater("group-delete", "lobby", "--json", *data)
        assert status == 2 and json.loads(out)["error"] == "refused", (out, err)

        await li.request("group.create", group="茶话会")
        status, out, err = await adminLater("group-delete", "茶话会", *data)
        assert status == 0 and out == "Deleted the group 茶话会 (1 member told, 1 node told).\n", err
        await li.event(type="group", group="茶话会", event="deleted")
    finally:
        for client in (zhang, li):
            await client.close()


@pytest_twisted.ensureDeferred
async def test_two_nodes(tmp_path):
    """
    Two twistd on one Redis: what chatroom-admin closes or deletes reaches
    the connections of both.
    """
    redis = RedisProcess()
    redis.start()
    url = "unix://" + redis.socket
    nodes, clients = [], []
    try:
        for name in ("node-a", "node-b"):
            dataDir = tmp_path / name
            os.mkdir(str(dataDir), 0o700)
            node = Twistd(str(dataDir), str(tmp_path / (name + ".log")), extra=["--redis", url, "--node-id", name])
            node.start()
            nodes.append(node)
        a, b = nodes
        zhangA = await a.ready("张三")
        zhangB = await b.ready("张三", register=False)
        liB = await b.ready("李四")
        wangA = await a.ready("王五")
        clients += [zhangA, zhangB, liB, wangA]
        await wangA.request("group.create", group="读书会")
        await liB.request("group.join", group="读书会")
        redisArgs = ["--redis", url]
        stats = await threads.deferToThread(adminJSON, "stats", "--no-scan", *redisArgs)
        assert stats["nodes"]["alive"] == ["node-a", "node-b"]

        result = await threads.deferToThread(adminJSON, "reset-password", "张三", "--password-stdin", *redisArgs,
                                             stdin="新密码\n")
        assert result["nodes_told"] == 2
        await byeWith(zhangA, "password_changed")
        await byeWith(zhangB, "password_changed")

        result = await threads.deferToThread(adminJSON, "group-delete", "读书会", *redisArgs)
        assert result["members"] == 2
        for client in (wangA, liB):
            await client.event(type="group", group="读书会", event="deleted")

        await threads.deferToThread(adminJSON, "ban", "王五", *redisArgs)
        await byeWith(wangA, "banned")
        await threads.deferToThread(adminJSON, "delete", "李四", *redisArgs)
        await byeWith(liB, "account_deleted")
    finally:
        for client in clients:
            await client.close()
        for node in nodes:
            node.stop()
        redis.stop()


@pytest_twisted.ensureDeferred
async def test_exit_statuses(server, tmp_path):
    zhang = await server.ready("张三")
    data = ["--data-dir", server.dataDir]
    try:
        for args in (["user", "无此人"], ["group", "无此群"]):
            status, out, err = await adminLater(*args, *data)
            assert status == 1 and "no such" in err and out == ""
            status, out, _ = await adminLater(*args, "--json", *data)
            assert status == 1 and json.loads(out)["error"] == "not_found"
        status, _, err = await adminLater("reset-password", "无此人", "--password-stdin", *data, stdin="x\n")
        assert status == 1 and "no such user: 无此人" in err
        for args in (
            [],  # no command
            ["no-such-command"],
            ["user"],  # no name
            ["user", "a b"],  # not a name
            ["users", "--limit", "0"],
            ["stats", "--redis-password-file", str(tmp_path / "pw")],  # without --redis
            ["stats", "--redis", "http://nowhere"],
            ["reset-password", "张三", "--password-stdin"],  # an empty password
        ):
            status, out, err = await adminLater(*args, *data, stdin="")
            assert status == 2, (args, status, out, err)
            assert out == "" and err
    finally:
        await zhang.close()
    # The server stopped: said plainly, status 3.
    server.stop()
    status, out, err = await adminLater("stats", *data)
    assert status == 3 and "is not running" in err and server.dataDir in err
    status, out, err = await adminLater("stats", "--data-dir", str(tmp_path / "nowhere"))
    assert status == 3 and "no data directory" in err


@pytest_twisted.ensureDeferred
async def test_finds_redis_like_the_server(server, tmp_path):
    """
    The data directory from the server's --config file, the Redis URL from
    CHATROOM_REDIS_URL or --redis, as the server reads them.
    """
    client = await server.ready("配置")
    try:
        config = tmp_path / "chatroom.toml"
        config.write_text('data-dir = "%s"\nhash-cost = 1\n' % (server.dataDir,), encoding="utf-8")
        status, out, err = await adminLater("--config", str(config), "user", "配置")
        assert status == 0 and "user:         配置" in out, err
        # Relative to the directory it runs in, as the server's.
        status, out, err = await adminLater("user", "配置", "-c", "chatroom.toml", cwd=str(tmp_path))
        assert status == 0, err
        url = "unix://" + os.path.join(server.dataDir, "redis.sock")
        nowhere = ["--data-dir", str(tmp_path / "nowhere")]
        status, out, err = await adminLater("user", "配置", *nowhere, env={"CHATROOM_REDIS_URL": url})
        assert status == 0, err
        status, out, err = await adminLater("user", "配置", "--redis", url, *nowhere)
        assert status == 0, err
        # A key the server would refuse is refused here too.
        config.write_text('no-such-key = 1\n', encoding="utf-8")
        status, out, err = await adminLater("--config", str(config), "stats")
        assert status == 2 and "no-such-key" in err
    finally:
        await client.close()


def test_commands_are_a_registry():
    assert list(COMMANDS) == ["stats", "users", "user", "groups", "group", "reset-password", "ban", "unban",
                              "delete", "group-delete"]
    done = subprocess.run([sys.executable, "-m", "chatroom.admin", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0
    for name in COMMANDS:
        assert name in done.stdout


_REDIS7 = findRedis7()


@pytest.mark.skipif(isinstance(_REDIS7, str), reason=str(_REDIS7))
@pytest_twisted.ensureDeferred
async def test_redis_cluster():
    """
    On a Redis Cluster the listings and counts walk every master.
    """
    cluster = RedisCluster(masters=3)
    cluster.start()
    try:
        node = await startChatServer(cluster, node="admin-node")
        try:
            names = ["用户%02d" % i for i in range(30)]
            for name in names:
                client = await node.user(name)
                if name != names[0]:
                    await client.request("send", to=names[0], text="嗨")
            url = "redis-cluster://" + ",".join("127.0.0.1:%d" % p for p in cluster.ports)
            stats = await threads.deferToThread(adminJSON, "stats", "--redis", url)
            assert stats["redis"]["mode"] == "cluster" and stats["redis"]["masters"] == 3
            # Memory summed over the masters, each holding a megabyte or so.
            assert stats["redis"]["used_memory"] > 3 * 500000
            assert stats["redis"]["used_memory_human"].endswith("M")
            assert stats["users"] == {"registered": 30, "deleted": 0, "online": 30}
            assert stats["conversations"]["direct"] == 29 and stats["messages"] == 29
            page = await threads.deferToThread(adminJSON, "users", "--limit", "25", "--redis", url)
            assert [u["user"] for u in page["users"]] == sorted(names)[:25]
            user = await threads.deferToThread(adminJSON, "user", names[3], "--redis", url)
            assert user["connections"] == {"admin-node": 1}
            # Through sharded pub/sub (SPUBLISH) to the node.
            result = await threads.deferToThread(adminJSON, "ban", names[-1], "--redis", url)
            assert result["nodes_told"] == 1
            await byeWith(client, "banned")
        finally:
            await node.stop()
    finally:
        cluster.stop()


def test_kinds_of_keys():
    """
    What stats counts, read back from key names.
    """
    from chatroom.store import keys

    assert keys.kindOf(keys.user("张三")) == ("user", "张三")
    assert keys.kindOf(keys.group("读书会")) == ("group", "读书会")
    assert keys.kindOf(keys.groupStream("读书会")) == ("group stream", "读书会")
    assert keys.kindOf(keys.directStream("张三", "李四"))[0] == "direct stream"
    for other in (keys.userGroups("张三"), keys.locations("张三"), keys.groupMembers("读书会"), keys.ONLINE,
                  keys.NODES, keys.LAYOUT, keys.nodeAlive("n1"), keys.directCid("张三", "李四", "s1"),
                  keys.groupCid("张三", "读书会", "i2"), "cr:user:x", ""):
        assert keys.kindOf(other) == (None, None), other


@pytest_twisted.ensureDeferred
async def test_long_data_directory(tmp_path):
    """
    A data directory whose path is too long for a socket has its Redis
    socket elsewhere; the running Redis's configuration says where.
    """
    data = tmp_path / ("很长的目录名" * 6) / "data"
    os.makedirs(str(data), 0o700)
    assert len(str(data / "redis.sock").encode("utf-8")) > 107
    server = Twistd(str(data), str(tmp_path / "twistd.log"))
    server.start()
    try:
        client = await server.ready("长路径")
        status, out, err = await adminLater("user", "长路径", "--data-dir", str(data))
        assert status == 0 and "user:         长路径" in out, err
        await client.close()
    finally:
        server.stop()


def test_sentinel():
    """
    A sentinel:// URL finds the master through the Sentinel.
    """
    from tests.store.test_sentinel import MASTER, Replicated, command

    redis = Replicated()
    try:
        redis.start()
        command(redis.master, "HSET", "{u:哨兵}", "pw", "x", "name", "看门人")
        url = "sentinel://127.0.0.1:%d/%s" % (redis.sentinel, MASTER)
        user = adminJSON("user", "哨兵", "--redis", url)
        assert user["name"] == "看门人" and user["online"] is False
        stats = adminJSON("stats", "--redis", url)
        assert stats["users"]["registered"] == 1
        assert stats["redis"]["address"].startswith("sentinel:127.0.0.1:%d/" % (redis.sentinel,))
    finally:
        redis.stop()
