"""
Tests for L{chatroom.web.websocket}: the protocol over WebSocket at C{/ws}
of the web port, without a browser (autobahn's Twisted client over real
loopback TCP, on a real Redis).
"""

import pytest
import pytest_twisted

from chatroom.limits import Limits
from chatroom.web.websocket import OriginPolicy
from tests.support.websocket import connectWebSocket, listenWeb
from tests.support.wire import WireError


async def webUser(chat, port, name, **connect):
    """
    A WebSocket connection logged in as C{name} (registered first).
    """
    client = await connectWebSocket(port, **connect)
    chat.clients.append(client)
    await client.request("register", user=name, password="secret")
    await client.request("login", user=name, password="secret")
    return client


@pytest_twisted.ensureDeferred
async def test_okAndErrorReplies(chat):
    """
    A request gets its C{ok} (with its id) as one text message; a bad one
    its C{error}, with the main port's codes; the connection stays usable.
    """
    port = await listenWeb(chat)
    client = await connectWebSocket(port)
    chat.clients.append(client)
    assert (await client.request("ping")) == {"type": "ok", "id": 1}
    with pytest.raises(WireError) as caught:
        await client.request("send", to="张三", text="你好")
    assert caught.value.code == "not_logged_in"
    with pytest.raises(WireError) as caught:
        await client.request("no.such.thing")
    assert caught.value.code == "unknown_type"
    client.sendText(b"not json")
    client.sendText(b"[1, 2]")
    client.sendText(b'{"type": "ping", "id": "\xff\xfe"}')
    await client.until(lambda: len(client.replies) == 6)
    assert [reply.get("code") for reply in client.replies[3:]] == ["bad_json", "bad_request", "bad_json"]
    await client.request("register", user="张三", password="secret")
    reply = await client.request("login", user="张三", password="secret")
    assert reply["user"] == "张三" and reply["online"] == 1


@pytest_twisted.ensureDeferred
async def test_chatWithMainPortInChinese(chat):
    """
    A WebSocket user and a main-port user chat both ways, in Chinese with
    emoji, and in a group; events come as text messages.
    """
    port = await listenWeb(chat)
    bob = await chat.user("李四")
    alice = await webUser(chat, port, "张三")
    await bob.event(type="presence", user="张三", status="online")
    reply = await alice.request("send", to="李四", text="你好 🙂 ñ")
    assert reply["status"] == "delivered"
    event = await bob.event(type="message")
    assert (event["from"], event["text"]) == ("张三", "你好 🙂 ñ")
    await bob.request("send", to="张三", text="收到 👍")
    event = await alice.event(type="message")
    assert (event["from"], event["to"], event["text"]) == ("李四", "张三", "收到 👍")
    await bob.request("group.send", group="lobby", text="大家好 👋")
    assert (await alice.event(type="message", group="lobby"))["text"] == "大家好 👋"
    history = await alice.request("history", **{"with": "李四"})
    assert [m["text"] for m in history["messages"]] == ["你好 🙂 ñ", "收到 👍"]


@pytest_twisted.ensureDeferred
async def test_missedMessagesAtLogin(chat):
    """
    Messages sent while a WebSocket user was away are pushed at its login,
    after the C{ok}, oldest first, marked C{offline}.
    """
    port = await listenWeb(chat)
    away = await webUser(chat, port, "王五")
    await away.request("logout")
    await away.closed
    bob = await chat.user("李四")
    for i in range(30):
        await bob.request("send", to="王五", text="离线消息 %d 🌙" % (i,))
    back = await connectWebSocket(port)
    chat.clients.append(back)
    await back.request("login", user="王五", password="secret")
    await back.until(lambda: len(back.events) >= 30)
    assert [e["text"] for e in back.events] == ["离线消息 %d 🌙" % (i,) for i in range(30)]
    assert all(e["offline"] for e in back.events)


@pytest_twisted.ensureDeferred
async def test_binaryMessageIsBadRequest(chat):
    """
    A binary message gets C{bad_request} and changes nothing; the
    connection stays.
    """
    port = await listenWeb(chat)
    client = await webUser(chat, port, "张三")
    client.sendBinary(b'{"type": "ping", "id": 7}')
    await client.until(lambda: len(client.replies) == 3)
    reply = client.replies[-1]
    assert reply["type"] == "error" and reply["code"] == "bad_request"
    assert "binary" in reply["message"]
    assert (await client.request("ping"))["type"] == "ok"


@pytest_twisted.ensureDeferred
async def test_oversizeMessageTooLargeThenClosed(chat):
    """
    A message over C{--max-frame} gets C{too_large} after the replies to
    the requests before it, then the close (1009); nothing after it is
    handled.
    """
    port = await listenWeb(chat, maxFrame=1024)
    client = await webUser(chat, port, "张三")
    bob = await chat.user("李四")
    exact = '{"type": "ping", "id": 9, "pad": "%s"}' % ("x" * (1024 - 36),)
    assert len(exact.encode()) == 1024
    client.sendText(exact.encode())
    client.sendText(b'{"type": "ping", "pad": "' + "满".encode() * 400 + b'"}')
    client.sendObject({"type": "send", "to": "李四", "text": "不该送达"})
    await client.closed
    assert client.replies[-2]["type"] == "ok", client.replies
    assert client.replies[-1]["code"] == "too_large" and "id" not in client.replies[-1]
    assert client.closeCode == 1009
    await chat.wait(0.2)
    assert bob.messages() == []


@pytest_twisted.ensureDeferred
async def test_oversizeFragmentedMessage(chat):
    """
    The limit is on the whole message, however it is fragmented.
    """
    port = await listenWeb(chat, maxFrame=1024)
    client = await webUser(chat, port, "张三")
    client.beginMessage(isBinary=False)
    for _ in range(3):
        client.sendMessageFrame(b" " * 500)
    client.endMessage()
    await client.closed
    assert client.replies[-1]["code"] == "too_large"


@pytest.mark.parametrize("origin, refused", [
    (None, False),
    ("http://127.0.0.1:{port}", False),
    ("https://chat.example.org", False),
    ("http://evil.example", True),
    ("http://127.0.0.1:1", True),
    ("https://127.0.0.1:{port}", True),
    ("null", True),
])
@pytest_twisted.ensureDeferred
async def test_origin(chat, origin, refused):
    """
    C{/ws} takes handshakes from the page's own origin, those given with
    C{--web-origin}, and non-browser clients (no C{Origin}); it refuses
    every other page's with 403.
    """
    port = await listenWeb(chat, origins=["https://chat.example.org"])
    if origin is not None:
        origin = origin.format(port=port)
    if refused:
        with pytest.raises(ConnectionError) as caught:
            await connectWebSocket(port, origin=origin)
        # 403 from the server; autobahn itself refuses "null" (400).
        assert "upgrade failed [403]" in str(caught.value) or origin == "null"
        return
    client = await connectWebSocket(port, origin=origin)
    chat.clients.append(client)
    assert (await client.request("ping"))["type"] == "ok"


def test_originPolicy():
    """
    Origins compare without case or a trailing slash; a page's own origin
    is its scheme (https over TLS) and Host, port included.
    """
    policy = OriginPolicy(["https://Chat.Example.org/"])
    assert policy.permits("https://chat.example.org", "127.0.0.1:8080", False)
    assert policy.permits("HTTP://LOCALHOST:8080", "localhost:8080", False)
    assert policy.permits("https://chat.local", "chat.local", True)
    assert not policy.permits("http://chat.local", "chat.local", True)
    assert not policy.permits("http://localhost:8080", "", False)
    assert not policy.permits("http://localhost", "localhost:8080", False)


@pytest.mark.parametrize("asked, chosen", [
    (["chatroom.v1"], "chatroom.v1"),
    (["other", "chatroom.v1"], "chatroom.v1"),
    (None, None),
])
@pytest_twisted.ensureDeferred
async def test_subprotocol(chat, asked, chosen):
    """
    The server picks C{chatroom.v1} when the client offers it, and no
    subprotocol when it offers none.
    """
    port = await listenWeb(chat)
    client = await connectWebSocket(port, protocols=asked)
    chat.clients.append(client)
    assert client.response.protocol == chosen
    assert (await client.request("ping"))["type"] == "ok"


@pytest_twisted.ensureDeferred
async def test_loginTimeoutShared(make_chat):
    """
    A WebSocket connection that does not log in in time is told so and
    closed, as on the main port.
    """
    chat = await make_chat(limits=Limits(loginTimeout=1))
    port = await listenWeb(chat)
    client = await connectWebSocket(port)
    chat.clients.append(client)
    await client.request("ping")
    await client.closed
    assert client.replies[-1]["code"] == "unavailable"
    assert "not logged in within 1 seconds" in client.replies[-1]["message"]


@pytest_twisted.ensureDeferred
async def test_perAddressLimitShared(make_chat):
    """
    The per-address connection limit counts main-port and WebSocket
    connections together.
    """
    chat = await make_chat(limits=Limits(maxPerAddress=2, limitLoopback=True))
    port = await listenWeb(chat)
    await chat.client()
    web = await connectWebSocket(port)
    chat.clients.append(web)
    await web.request("ping")
    refused = await connectWebSocket(port)
    chat.clients.append(refused)
    await refused.closed
    [reply] = refused.replies
    assert reply["code"] == "unavailable" and "too many connections" in reply["message"]


@pytest_twisted.ensureDeferred
async def test_closingLogsOut(chat):
    """
    A WebSocket connection that closes logs its user out: the others get
    the C{presence} event; C{logout} closes the connection cleanly.
    """
    port = await listenWeb(chat)
    watcher = await chat.user("观察者")
    client = await webUser(chat, port, "王五")
    await watcher.event(type="presence", user="王五", status="online")
    client.sendClose(1000)
    await client.closed
    assert (await watcher.event(type="presence", user="王五"))["status"] == "offline"

    again = await connectWebSocket(port)
    await again.request("login", user="王五", password="secret")
    await again.request("logout")
    await again.closed
    assert again.closeCode == 1000


@pytest_twisted.ensureDeferred
async def test_sessionSeesItsAddress(chat):
    """
    The session of a WebSocket connection has the client's address (what
    the per-address limits and the security log use).
    """
    port = await listenWeb(chat)
    await webUser(chat, port, "张三")
    [session] = [s for s in chat.service.sessions if s.user == "张三"]
    assert session.peer.startswith("127.0.0.1:")


@pytest_twisted.ensureDeferred
async def test_overTLS(chat, tmp_path):
    """
    Behind an C{ssl:} endpoint (C{--web ssl:...}), the page's own origin
    is its https one: a wss client from it chats; the http origin of the
    same host is refused.
    """
    from twisted.internet import reactor
    from twisted.internet.endpoints import serverFromString

    from chatroom.tap import Options
    from chatroom.web.site import WebSite
    from tests.test_tls import selfSigned, trusting

    certPath, keyPath = selfSigned(tmp_path)
    description = "ssl:0:interface=127.0.0.1:privateKey=%s:certKey=%s" % (keyPath, certPath)
    Options().parseOptions(["--web", description, "--debug-port", "none"])
    listening = await serverFromString(reactor, description).listen(WebSite(chat.service.sessions, 65536))
    chat.listening.append(listening)
    port = listening.getHost().port
    bob = await chat.user("李四")
    client = await connectWebSocket(port, origin="https://127.0.0.1:%d" % (port,), tls=trusting(certPath))
    chat.clients.append(client)
    await client.request("register", user="加密", password="secret")
    await client.request("login", user="加密", password="secret")
    reply = await client.request("send", to="李四", text="经由 wss 🔒")
    assert (await bob.event(type="message", msg_id=reply["msg_id"]))["text"] == "经由 wss 🔒"
    with pytest.raises(ConnectionError):
        await connectWebSocket(port, origin="http://127.0.0.1:%d" % (port,), tls=trusting(certPath))
