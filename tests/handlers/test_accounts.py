"""
Accounts, on the in-memory store and on a real Redis over loopback TCP:
register, login, logout, users paging, and every bad input on both ports.
"""

import json
import struct

import pytest
import pytest_twisted
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import formatEvent, globalLogPublisher

pytestmark = pytest.mark.stores("memory", "redis")

from chatroom.store import keys
from tests.support.chatting import settle
from tests.support.wire import WireError


async def refused(code, d):
    """
    Await C{d}, which must fail with error C{code}; the error reply.
    """
    with pytest.raises(WireError) as info:
        await d
    assert info.value.code == code, info.value.reply
    return info.value.reply


def redisValue(redis, *command):
    """
    A bulk-string reply of C{command}, decoded (C{None} for nil).
    """
    raw = redis.command(*command)
    if raw.startswith(b"$-1"):
        return None
    assert raw.startswith(b"$"), raw
    header, _, rest = raw.partition(b"\r\n")
    return rest[:int(header[1:])].decode("utf-8")


# register and login.


@pytest_twisted.ensureDeferred
async def test_registerAndLogin(chat):
    """
    A user registers, logs in and is told its name, display name and how
    many users are online.
    """
    c = await chat.client()
    assert await c.request("register", user="alice", password="pw") == {"type": "ok", "id": 1, "user": "alice"}
    reply = await c.request("login", user="alice", password="pw")
    assert reply == {"type": "ok", "id": 2, "user": "alice", "name": "alice", "online": 1}


@pytest_twisted.ensureDeferred
async def test_displayName(chat):
    """
    The optional display name of C{register} is the one C{login} and
    C{users} report.
    """
    c = await chat.client()
    await c.request("register", user="zhang", password="pw", name="张三 👋")
    assert (await c.request("login", user="zhang", password="pw"))["name"] == "张三 👋"
    assert (await c.request("users"))["users"] == [{"user": "zhang", "name": "张三 👋"}]


@pytest_twisted.ensureDeferred
async def test_userExists(chat):
    """
    A taken name gets C{user_exists}, and the first account is unchanged.
    """
    c = await chat.client()
    await c.request("register", user="alice", password="first", name="Alice")
    await refused("user_exists", c.request("register", user="alice", password="second", name="Mallory"))
    await refused("auth_failed", c.request("login", user="alice", password="second"))
    assert (await c.request("login", user="alice", password="first"))["name"] == "Alice"


@pytest_twisted.ensureDeferred
async def test_userExistsNFC(chat):
    """
    Names are compared after NFC normalisation: the decomposed spelling of
    a taken name is taken, and logs in to the same account.
    """
    c = await chat.client()
    assert (await c.request("register", user="José", password="pw"))["user"] == "José"
    await refused("user_exists", c.request("register", user="Jose\u0301", password="pw"))
    assert (await c.request("login", user="Jose\u0301", password="pw"))["user"] == "José"


@pytest_twisted.ensureDeferred
async def test_authFailedSameForUnknownAndWrong(chat):
    """
    A wrong password and an unknown user get the same code and message.
    """
    c = await chat.client()
    await c.request("register", user="alice", password="right")
    wrong = await refused("auth_failed", c.request("login", user="alice", password="wrong"))
    unknown = await refused("auth_failed", c.request("login", user="nobody", password="right"))
    assert wrong["message"] == unknown["message"]
    assert set(wrong) == set(unknown) == {"type", "id", "code", "message"}
    # A failed login leaves the connection logged out but usable.
    await refused("not_logged_in", c.request("users"))
    await c.request("login", user="alice", password="right")
    await c.request("users")


@pytest_twisted.ensureDeferred
async def test_passwordCaseAndUnicode(chat):
    """
    Passwords are compared exactly: case and normalisation matter.
    """
    c = await chat.client()
    await c.request("register", user="u", password="Pässwörd 密码 🔑")
    await refused("auth_failed", c.request("login", user="u", password="pässwörd 密码 🔑"))
    await refused("auth_failed", c.request("login", user="u", password="Pa\u0308sswörd 密码 🔑"))
    await c.request("login", user="u", password="Pässwörd 密码 🔑")


@pytest_twisted.ensureDeferred
async def test_passwordNeverStoredOrSentOrLogged(chat):
    """
    The password is stored only as a salted argon2id hash, appears in no
    reply and in no log event.
    """
    password = "correct horse 电池 staple"
    observer = EventLoggingObserver()
    globalLogPublisher.addObserver(observer)
    try:
        c = await chat.client()
        await c.request("register", user="alice", password=password)
        await c.request("register", user="bob", password=password)
        await refused("auth_failed", c.request("login", user="alice", password=password + "!"))
        await c.request("login", user="alice", password=password)
    finally:
        globalLogPublisher.removeObserver(observer)
    accounts = chat.service.store.accounts
    stored, _ = await accounts.credentials("alice")
    assert stored.startswith("$argon2id$")
    assert password not in stored
    # Salted: the same password hashes differently for another user.
    assert (await accounts.credentials("bob"))[0] != stored
    assert password not in json.dumps(c.replies, ensure_ascii=False)
    for event in observer:
        assert password not in formatEvent(event)
        assert password not in repr(event)


@pytest.mark.stores("redis")  # reads the user's hash in Redis itself
@pytest_twisted.ensureDeferred
async def test_passwordNotInRedis(chat, redis_process):
    """
    In Redis, the user's C{pw} field is the argon2id hash, and no field of
    the user's hash holds the password.
    """
    password = "correct horse 电池 staple"
    c = await chat.client()
    await c.request("register", user="alice", password=password)
    stored = redisValue(redis_process, "HGET", keys.user("alice"), "pw")
    assert stored.startswith("$argon2id$")
    assert stored == (await chat.service.store.accounts.credentials("alice"))[0]
    everything = redis_process.command("HGETALL", keys.user("alice"))
    assert password.encode("utf-8") not in everything


@pytest_twisted.ensureDeferred
async def test_loginAgainSwitchesUser(chat):
    """
    Logging in on a logged-in connection switches it to the new user.
    """
    watcher = await chat.user("watcher")
    c = await chat.user("alice")
    await watcher.event(type="presence", user="alice", status="online")
    await c.request("register", user="bob", password="secret")
    reply = await c.request("login", user="bob", password="secret")
    assert reply["user"] == "bob"
    await watcher.event(type="presence", user="alice", status="offline")
    await watcher.event(type="presence", user="bob", status="online")
    users = [u["user"] for u in (await watcher.request("users"))["users"]]
    assert users == ["bob", "watcher"]


@pytest_twisted.ensureDeferred
async def test_loginAgainAsTheSameUserChangesNothing(chat):
    """
    Logging in again as the user a connection already has is answered and
    changes nothing: no presence flicker, no second push of missed messages.
    """
    watcher = await chat.user("watcher")
    sender = await chat.user("sender")
    c = await chat.user("alice")
    await watcher.event(type="presence", user="alice", status="online")
    await sender.request("send", to="alice", text="一次就好 🙂")
    await c.event(type="message")
    reply = await c.request("login", user="alice", password="secret")
    assert (reply["user"], reply["online"]) == ("alice", 3)
    await settle(watcher, 0.3)
    await settle(c, 0)
    assert [e for e in watcher.events if e.get("type") == "presence" and e["user"] == "alice"] == []
    assert [e for e in c.events if e.get("type") == "message"] == []


# logout.


@pytest_twisted.ensureDeferred
async def test_logoutClosesConnection(chat):
    """
    C{logout} is answered, then the server closes the connection and the
    user is offline.
    """
    other = await chat.user("bob")
    c = await chat.user("alice")
    assert await c.request("logout") == {"type": "ok", "id": 3}
    await c.closed
    assert not c.connected
    await other.event(type="presence", user="alice", status="offline")
    assert [u["user"] for u in (await other.request("users"))["users"]] == ["bob"]


@pytest_twisted.ensureDeferred
async def test_logoutDropsLaterRequests(chat):
    """
    Requests written after C{logout} are not handled.
    """
    c = await chat.user("alice")
    c.sendObject({"type": "logout", "id": "bye"})
    c.sendObject({"type": "group.create", "group": "after", "id": "late"})
    await c.closed
    assert [r.get("id") for r in c.replies[-1:]] == ["bye"]
    d = await chat.user("bob")
    await refused("no_such_group", d.request("group.join", group="after"))


# Requests before login.


@pytest.mark.parametrize("wireType, fields", [
    ("logout", {}),
    ("users", {}),
    ("send", {"to": "alice", "text": "hi"}),
    ("group.create", {"group": "g"}),
    ("group.join", {"group": "lobby"}),
    ("group.leave", {"group": "lobby"}),
    ("group.list", {}),
    ("group.members", {"group": "lobby"}),
    ("group.send", {"group": "lobby", "text": "hi"}),
    ("history", {"group": "lobby"}),
    ("ack", {"group": "lobby", "upto": "1-0"}),
])
@pytest_twisted.ensureDeferred
async def test_notLoggedIn(chat, wireType, fields):
    """
    Every request but register, login and ping needs a login, and is
    refused without changing anything; the connection stays usable.
    """
    c = await chat.client()
    await c.request("register", user="alice", password="pw")
    await refused("not_logged_in", c.request(wireType, **fields))
    await refused("not_logged_in", c.request(wireType, **{"bogus": True}))
    assert await c.request("ping") == {"type": "ok", "id": 4}
    assert c.connected
    await c.request("login", user="alice", password="pw")
    assert (await c.request("group.list"))["groups"] == ["lobby"]


# users paging.


@pytest_twisted.ensureDeferred
async def test_usersPaging(chat):
    """
    25 users online, pages of 10: every user once, in three pages, each
    with the total; the last page's cursor is null.
    """
    names = ["user%02d" % i for i in range(24)] + ["张三"]
    clients = []
    for name in names:
        clients.append(await chat.user(name))
    c = clients[0]
    seen, cursor, pages = [], None, []
    while True:
        fields = {"limit": 10}
        if cursor is not None:
            fields["cursor"] = cursor
        page = await c.request("users", **fields)
        pages.append(len(page["users"]))
        assert page["total"] == 25
        seen.extend(u["user"] for u in page["users"])
        cursor = page["cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
    assert pages == [10, 10, 5]
    assert len(seen) == len(set(seen)) == 25
    assert set(seen) == set(names)
    # Default limit: everyone in one page.
    page = await c.request("users")
    assert page["cursor"] is None
    assert sorted(u["user"] for u in page["users"]) == sorted(names)


@pytest_twisted.ensureDeferred
async def test_usersPagingExact(chat):
    """
    When the users fill the last page exactly, its cursor is null (no
    empty page to fetch).
    """
    clients = [await chat.user("u%d" % i) for i in range(4)]
    first = await clients[0].request("users", limit=2)
    second = await clients[0].request("users", limit=2, cursor=first["cursor"])
    assert first["cursor"] is not None
    assert second["cursor"] is None
    assert len(first["users"] + second["users"]) == 4


@pytest_twisted.ensureDeferred
async def test_usersOnlineOnly(chat):
    """
    C{users} lists users online now: registered users who are not logged
    in are left out, and a user with two connections is listed once.
    """
    c = await chat.user("alice")
    await c.request("register", user="offline", password="pw")
    await chat.user("bob")
    await chat.user("bob", register=False)
    page = await c.request("users")
    assert [u["user"] for u in page["users"]] == ["alice", "bob"]
    assert page["total"] == 2


# Bad input on both ports.


BAD_INPUTS = [
    # (raw JSON payload, expected code)
    (b"not json", "bad_json"),
    (b"\xff\xfe\xfd", "bad_json"),
    (b'{"type": "ping", "x": "\xe4\xb8"}', "bad_json"),
    (b'{"type": "ping", "n": NaN}', "bad_json"),
    (b'{"type": "ping"', "bad_json"),
    (b"[1, 2, 3]", "bad_request"),
    (b'"ping"', "bad_request"),
    (b"42", "bad_request"),
    (b"null", "bad_request"),
    (b"{}", "bad_request"),
    (b'{"type": 7}', "bad_request"),
    (b'{"type": ["login"]}', "bad_request"),
    (b'{"type": "ping", "id": 1.5}', "bad_request"),
    (b'{"type": "ping", "id": "' + b"x" * 65 + b'"}', "bad_request"),
    (b'{"type": "fly"}', "unknown_type"),
    (b'{"type": "register"}', "bad_request"),
    (b'{"type": "register", "user": "alice"}', "bad_request"),
    (b'{"type": "register", "user": 5, "password": "pw"}', "bad_request"),
    (b'{"type": "register", "user": "al ice", "password": "pw"}', "bad_request"),
    (b'{"type": "register", "user": "' + b"a" * 33 + b'", "password": "pw"}', "bad_request"),
    (b'{"type": "register", "user": "newbie", "password": "' + b"p" * 1025 + b'"}', "bad_request"),
    (b'{"type": "register", "user": "newbie", "password": ""}', "bad_request"),
    (b'{"type": "register", "user": "newbie", "password": "\\ud800"}', "bad_request"),
    (b'{"type": "register", "user": "newbie", "password": "pw", "name": ""}', "bad_request"),
    (b'{"type": "login", "user": "alice", "password": ["pw"]}', "bad_request"),
    (b'{"type": "users", "limit": "ten"}', "not_logged_in"),
]

LOGGED_IN_BAD_INPUTS = [
    (b'{"type": "users", "limit": "ten"}', "bad_request"),
    (b'{"type": "users", "limit": 0}', "bad_request"),
    (b'{"type": "users", "limit": 1001}', "bad_request"),
    (b'{"type": "users", "cursor": 3}', "bad_request"),
    (b'{"type": "send", "to": "alice"}', "bad_request"),
    (b'{"type": "send", "to": "alice", "text": "' + b"t" * 8193 + b'"}', "bad_request"),
    (b'{"type": "send", "to": "alice", "text": 12}', "bad_request"),
    (b'{"type": "group.create", "group": "' + "群".encode() * 33 + b'"}', "bad_request"),
    (b'{"type": "group.create", "group": "a b"}', "bad_request"),
    (b'{"type": "group.members"}', "bad_request"),
    (b'{"type": "group.send", "group": "lobby", "text": ""}', "bad_request"),
    (b'{"type": "history", "group": "lobby", "before": "yesterday"}', "bad_request"),
    (b'{"type": "ack", "group": "lobby"}', "bad_request"),
]


def mainPortFrame(payload):
    return struct.pack(">I", len(payload)) + payload


async def rawReply(client, data):
    """
    Write C{data}, then a ping; the one reply C{data} got.
    """
    before = len(client.replies)
    client.sendRaw(data)
    pong = await client.request("ping")
    replies = client.replies[before:]
    assert replies[-1] == pong
    assert len(replies) == 2, replies
    return replies[0]


async def checkBadInputs(client, wrap, inputs):
    for payload, code in inputs:
        reply = await rawReply(client, wrap(payload))
        assert reply["type"] == "error", payload
        assert reply["code"] == code, (payload, reply)
        assert isinstance(reply["message"], str) and reply["message"]
        assert "Traceback" not in reply["message"]
        assert client.connected


@pytest.mark.parametrize("port", ["main", "debug"])
@pytest_twisted.ensureDeferred
async def test_badInputs(chat, port):
    """
    Every bad frame or field gets its code, the connection stays usable,
    and nothing changed.
    """
    if port == "main":
        c = await chat.client()
        wrap = mainPortFrame
    else:
        c = await chat.client(lines=True)
        wrap = lambda payload: payload + b"\n"  # noqa: E731
    await c.request("register", user="alice", password="pw")
    await checkBadInputs(c, wrap, BAD_INPUTS)
    # Nothing was created by the refused registrations.
    await refused("auth_failed", c.request("login", user="newbie", password="pw"))
    await c.request("login", user="alice", password="pw")
    await checkBadInputs(c, wrap, LOGGED_IN_BAD_INPUTS)
    assert (await c.request("group.list"))["groups"] == ["lobby"]
    assert (await c.request("users"))["total"] == 1


@pytest_twisted.ensureDeferred
async def test_tooLargeMainPort(chat):
    """
    A frame over 65,536 bytes gets C{too_large} and the connection closes;
    one of exactly 65,536 is fine.
    """
    c = await chat.user("alice")
    base = b'{"type": "ping", "id": "big", "pad": ""}'
    exact = base[:-2] + b"x" * (65536 - len(base)) + b'"}'
    assert len(exact) == 65536
    c.sendRaw(mainPortFrame(exact))
    await c.request("ping")
    assert c.replies[-2] == {"type": "ok", "id": "big"}
    c.sendRaw(mainPortFrame(exact + b" "))
    await c.closed
    assert c.replies[-1]["code"] == "too_large"
    # The closed connection is no longer online.
    other = await chat.user("bob")
    assert (await other.request("users"))["users"] == [{"user": "bob", "name": "bob"}]


@pytest_twisted.ensureDeferred
async def test_tooLargeDebugPort(chat):
    """
    A line over the limit gets C{too_large} and the connection closes.
    """
    c = await chat.client(lines=True)
    await c.request("ping")
    c.sendRaw(b'{"type": "ping", "pad": "' + b"x" * 70000 + b'"}\n')
    await c.closed
    assert c.replies[-1]["code"] == "too_large"


@pytest_twisted.ensureDeferred
async def test_pipelinedRequestsAfterSlowOne(chat):
    """
    A client that writes a login and then many quick requests at once
    gets every reply, and its connection keeps working afterwards (the
    server stops reading while they queue, and must start again).
    """
    c = await chat.client()
    await c.request("register", user="alice", password="pw")
    data = mainPortFrame(json.dumps({"type": "login", "user": "alice", "password": "pw", "id": "L"}).encode())
    data += b"".join(mainPortFrame(json.dumps({"type": "ping", "id": "p%d" % i}).encode()) for i in range(80))
    c.sendRaw(data)
    await c.until(lambda: len(c.replies) == 82)
    assert await c.request("ping") == {"type": "ok", "id": 2}
    ids = [r.get("id") for r in c.replies]
    assert ids == [1, "L"] + ["p%d" % i for i in range(80)] + [2]


# The debug port.


@pytest.mark.parametrize("lineEnd", [b"\n", b"\r\n"])
@pytest_twisted.ensureDeferred
async def test_debugPort(chat, lineEnd):
    """
    The debug port speaks the same requests as JSON lines ending with
    C{\\n} or C{\\r\\n}, and shares users with the main port.
    """
    c = await chat.client(lines=True)
    c.lineEnd = lineEnd
    assert await c.request("register", user="张三", password="密码") == {"type": "ok", "id": 1, "user": "张三"}
    reply = await c.request("login", user="张三", password="密码")
    assert reply == {"type": "ok", "id": 2, "user": "张三", "name": "张三", "online": 1}
    m = await chat.user("李四")
    assert (await m.request("users"))["users"] == [
        {"user": "张三", "name": "张三"}, {"user": "李四", "name": "李四"},
    ]
    # Events reach a debug-port client too.
    await c.event(type="presence", user="李四", status="online")
    await m.request("send", to="张三", text="你好 👋")
    event = await c.event(type="message")
    assert (event["from"], event["text"]) == ("李四", "你好 👋")


@pytest_twisted.ensureDeferred
async def test_debugPortHalfClose(chat):
    """
    Like C{nc} at the end of its input: a client that closes its sending
    side gets every reply, then the server closes.
    """
    c = await chat.client(lines=True)
    c.sendRaw(
        b'{"type": "register", "user": "nc", "password": "pw", "id": 1}\n'
        b'{"type": "login", "user": "nc", "password": "pw", "id": 2}\n'
        b'{"type": "users", "id": 3}\n'
    )
    c.transport.loseWriteConnection()
    await c.closed
    assert [r.get("id") for r in c.replies] == [1, 2, 3]
    assert c.replies[2]["users"] == [{"user": "nc", "name": "nc"}]
