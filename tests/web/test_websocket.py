"""
Tests for L{chatroom.web.websocket}: the protocol over WebSocket at C{/ws}
of the web port, without a browser.
"""

import pytest
import pytest_twisted

from tests.support.websocket import connectWebSocket, listenWeb
from tests.support.wire import WireError


@pytest_twisted.ensureDeferred
async def test_okAndErrorReplies(chat):
    """
    A request gets its C{ok} (with its id) as one text message; a bad one
    its C{error}; the connection stays usable.
    """
    port = await listenWeb(chat)
    client = await connectWebSocket(port)
    chat.clients.append(client)
    assert (await client.request("ping")) == {"type": "ok", "id": 1}
    with pytest.raises(WireError) as caught:
        await client.request("send", to="张三", text="你好")
    assert caught.value.code == "not_logged_in"
    await client.request("register", user="张三", password="secret")
    reply = await client.request("login", user="张三", password="secret")
    assert reply["user"] == "张三"


@pytest_twisted.ensureDeferred
async def test_closingLogsOut(chat):
    """
    A WebSocket connection that closes logs its user out: the others get
    the C{presence} event.
    """
    port = await listenWeb(chat)
    watcher = await chat.user("观察者")
    client = await connectWebSocket(port)
    await client.request("register", user="王五", password="secret")
    await client.request("login", user="王五", password="secret")
    await watcher.event(type="presence", user="王五", status="online")
    client.sendClose(1000)
    await client.closed
    assert (await watcher.event(type="presence", user="王五"))["status"] == "offline"
