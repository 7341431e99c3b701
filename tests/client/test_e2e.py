"""
End to end: the real chatroom-client, in real terminals (tmux panes),
against a real server (the C{chat} fixture: an in-process server on
loopback with a real redis-server).

Two people register, chat (a reply arrives while a line is half typed, and
the line survives it, Chinese and all), one leaves and finds the message
sent meanwhile when logging in again.
"""

import os
import shutil
import subprocess
import sys
import time

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import deferLater

import chatroom

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(chatroom.__file__)))
WAIT = 15.0


class Terminal:
    """
    tmux on a private socket: one session per client, each a 100x40
    terminal.
    """

    def __init__(self, socket):
        self.socket = socket

    def tmux(self, *args):
        return subprocess.run(
            ["tmux", "-S", self.socket] + list(args), check=True, capture_output=True, text=True
        ).stdout

    def start(self, name, port):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONPATH": ROOT,
        }
        command = " ".join(
            ["env", "-i"] + ["%s=%s" % kv for kv in env.items()]
            + [sys.executable, "-m", "chatroom.client", "--host", "127.0.0.1", "--port", str(port)]
        )
        self.tmux("new-session", "-d", "-s", name, "-x", "100", "-y", "40", command)
        # Keep a pane whose client exited, to read its last words.
        self.tmux("set-option", "-t", name, "remain-on-exit", "on")

    def keys(self, name, *keys):
        """
        Type C{keys}; the literal text is sent as is (UTF-8), "Enter" and
        friends as keys.
        """
        for key in keys:
            if key in ("Enter", "C-u", "Tab"):
                self.tmux("send-keys", "-t", name, key)
            else:
                self.tmux("send-keys", "-t", name, "-l", key)

    def line(self, name, text):
        self.keys(name, text, "Enter")

    def screen(self, name):
        return self.tmux("capture-pane", "-p", "-t", name)

    def cursor(self, name):
        x, y = self.tmux("display-message", "-p", "-t", name, "#{cursor_x} #{cursor_y}").split()
        return int(x), int(y)

    def stop(self):
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True)


async def waitFor(terminal, name, text, count=1):
    """
    Wait (letting the in-process server run) until C{text} is on the
    screen C{count} times.
    """
    deadline = time.monotonic() + WAIT
    while True:
        screen = terminal.screen(name)
        if screen.count(text) >= count:
            return screen
        if time.monotonic() > deadline:
            raise AssertionError("%r not on %s's screen:\n%s" % (text, name, screen))
        await deferLater(reactor, 0.1, lambda: None)


async def register(terminal, name, user):
    terminal.line(name, "2")
    await waitFor(terminal, name, "new user name:")
    terminal.line(name, user)
    await waitFor(terminal, name, "password for %s:" % (user,))
    terminal.line(name, "pw")
    await waitFor(terminal, name, "password again:")
    terminal.line(name, "pw")
    await waitFor(terminal, name, "* logged in as %s" % (user,))


class Outage:
    """
    A TCP proxy in front of the server that can cut every connection and
    refuse new ones for a while, as a network outage would.
    """

    def __init__(self, port):
        from twisted.protocols import portforward

        outage = self

        class Server(portforward.ProxyServer):
            def connectionMade(self):
                outage.connections.add(self)
                super().connectionMade()

            def connectionLost(self, reason):
                outage.connections.discard(self)
                super().connectionLost(reason)

        class Client(portforward.ProxyClient):
            def dataReceived(self, data):
                # Deaf: the server's replies never reach the client.
                if not outage.deaf:
                    super().dataReceived(data)

        class ClientFactory(portforward.ProxyClientFactory):
            protocol = Client

        Server.clientProtocolFactory = ClientFactory
        self.factory = portforward.ProxyFactory("127.0.0.1", port)
        self.factory.protocol = Server
        self.connections = set()
        self.deaf = False
        self.listening = reactor.listenTCP(0, self.factory, interface="127.0.0.1")
        self.port = self.listening.getHost().port

    async def cut(self):
        await self.listening.stopListening()
        for connection in list(self.connections):
            connection.transport.abortConnection()

    def restore(self):
        self.deaf = False
        self.listening = reactor.listenTCP(self.port, self.factory, interface="127.0.0.1")

    async def stop(self):
        await self.listening.stopListening()
        for connection in list(self.connections):
            connection.transport.abortConnection()


async def waitUntil(predicate, describe):
    """
    Wait until C{predicate()} holds (the screen may be mid-redraw).
    """
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("never came true; screen:\n%s" % (describe(),))
        await deferLater(reactor, 0.1, lambda: None)


@pytest.fixture
def terminal(tmp_path):
    t = Terminal(str(tmp_path / "tmux.sock"))
    yield t
    t.stop()


@pytest_twisted.ensureDeferred
async def test_two_people_chat_in_real_terminals(chat, terminal):
    terminal.start("alice", chat.port)
    terminal.start("lilei", chat.port)
    await waitFor(terminal, "alice", "1. log in")
    await waitFor(terminal, "lilei", "1. log in")

    await register(terminal, "alice", "alice")
    await register(terminal, "lilei", "李雷")
    # The password was never shown.
    assert "pw" not in terminal.screen("alice").replace("password", "")

    # 李雷 opens a conversation with alice (Tab completes her name).
    terminal.keys("lilei", "/chat al", "Tab")
    await waitFor(terminal, "lilei", "/chat alice")
    terminal.keys("lilei", "Enter")
    await waitFor(terminal, "lilei", "\nalice>")

    # alice is half way through a line when 李雷's message arrives.
    terminal.keys("alice", "半句话 typing")
    await waitFor(terminal, "alice", "chatroom> 半句话 typing")
    terminal.line("lilei", "你好 alice 👋")
    await waitFor(terminal, "alice", "<李雷> 你好 alice 👋")

    # The message is printed above; the half-typed line is intact below it,
    # with the cursor after it (Chinese characters take two columns).
    # Under it, the status line: the message is unread (alice is not in
    # that conversation).
    def intact():
        lines = [line for line in terminal.screen("alice").splitlines() if line.strip()]
        x, y = terminal.cursor("alice")
        return (
            lines[-2] == "chatroom> 半句话 typing"
            and "<李雷> 你好 alice 👋" in lines[-3]
            and lines[-1].strip() == "unread: 李雷 1"
            and x == len("chatroom> ") + 6 + len(" typing")
        )

    await waitUntil(intact, lambda: terminal.screen("alice"))

    # alice replies with /msg instead.
    terminal.keys("alice", "C-u")
    terminal.line("alice", "/msg 李雷 回复 reply")
    await waitFor(terminal, "lilei", "<alice> 回复 reply")

    # 李雷 leaves; alice's next message waits for him.
    terminal.line("lilei", "/quit")
    await waitFor(terminal, "alice", "* 李雷 is offline")
    terminal.line("alice", "/msg 李雷 离线 while you were away")
    await waitFor(terminal, "alice", "李雷 is offline; they will see it")

    # 李雷 comes back (a fresh client) and logs in from the menu.
    terminal.tmux("kill-session", "-t", "lilei")
    terminal.start("lilei", chat.port)
    await waitFor(terminal, "lilei", "1. log in")
    terminal.line("lilei", "1")
    await waitFor(terminal, "lilei", "user name:")
    terminal.line("lilei", "李雷")
    await waitFor(terminal, "lilei", "password for 李雷:")
    terminal.line("lilei", "pw")
    screen = await waitFor(terminal, "lilei", "=== end of missed messages ===")
    assert "--- alice (1 unread) ---" in screen
    assert "<alice> 离线 while you were away" in screen
    # The message shown live before he left is not missed again.
    assert "回复 reply" not in screen
    await waitFor(terminal, "alice", "* 李雷 is online")


@pytest_twisted.ensureDeferred
async def test_reconnect_logs_in_again_and_sends_what_was_typed(chat, terminal):
    outage = Outage(chat.port)
    try:
        alice = await chat.user("alice")
        terminal.start("bob", outage.port)
        await waitFor(terminal, "bob", "1. log in")
        await register(terminal, "bob", "bob")
        terminal.line("bob", "/chat alice")
        await waitFor(terminal, "bob", "\nalice>")

        await outage.cut()
        await waitFor(terminal, "bob", "connection to 127.0.0.1:%d lost; reconnecting" % (outage.port,))
        terminal.line("bob", "typed while offline 离线")
        await waitFor(terminal, "bob", "will be sent when the connection is back")
        outage.restore()

        screen = await waitFor(terminal, "bob", "(sent to alice: typed while offline 离线)")
        assert "* logged in again as bob" in screen
        assert "sending 1 message typed while disconnected" in screen
        # alice got it live, once; the conversation's history holds it once.
        event = await alice.event(type="message", text="typed while offline 离线")
        assert event["from"] == "bob"
        await deferLater(reactor, 0.5, lambda: None)
        assert [m for m in alice.messages() if m.get("text") == "typed while offline 离线"] == []
        reply = await alice.request("history", **{"with": "bob"})
        assert [m["text"] for m in reply["messages"]].count("typed while offline 离线") == 1

        # Now the message reaches the server but its reply is lost with the
        # connection: the client sends it again with the same cid, and the
        # server does not deliver it twice.
        outage.deaf = True
        terminal.line("bob", "reply lost")
        event = await alice.event(type="message", text="reply lost")
        await outage.cut()
        await waitFor(terminal, "bob", "lost; reconnecting", count=2)
        outage.restore()
        await waitFor(terminal, "bob", "(sent to alice: reply lost)")
        await deferLater(reactor, 0.5, lambda: None)
        assert [m for m in alice.messages() if m.get("text") == "reply lost"] == []
        reply = await alice.request("history", **{"with": "bob"})
        assert [m["text"] for m in reply["messages"]].count("reply lost") == 1
    finally:
        await outage.stop()


@pytest_twisted.ensureDeferred
async def test_running_a_private_group_in_real_terminals(chat, terminal):
    terminal.start("alice", chat.port)
    terminal.start("lilei", chat.port)
    await waitFor(terminal, "alice", "1. log in")
    await waitFor(terminal, "lilei", "1. log in")
    await register(terminal, "alice", "alice")
    await register(terminal, "lilei", "李雷")

    terminal.line("alice", "/create 项目组 private 内部 🔒")
    await waitFor(terminal, "alice", "* you created private #项目组 “内部 🔒”")
    # Tab completes the command and the group.
    terminal.keys("alice", "/ad", "Tab")
    await waitFor(terminal, "alice", "chatroom> /add")
    terminal.keys("alice", " #项", "Tab")
    await waitFor(terminal, "alice", "chatroom> /add #项目组")
    terminal.keys("alice", " 李雷", "Enter")
    await waitFor(terminal, "lilei", "* 李雷 was added to #项目组 by alice")
    terminal.line("alice", "/op #项目组 李雷")
    await waitFor(terminal, "lilei", "* 李雷 is now an admin of #项目组 (by alice)")
    terminal.line("lilei", "/groups")
    await waitFor(terminal, "lilei", "#项目组  admin   private  内部 🔒")

    terminal.line("lilei", "/chat #项目组")
    await waitFor(terminal, "lilei", "\n#项目组>")
    terminal.line("lilei", "大家好 👋")
    await waitFor(terminal, "alice", "#项目组 <李雷> 大家好 👋")
    terminal.line("alice", "/members #项目组")
    await waitFor(terminal, "alice", "李雷   admin  online")
    terminal.line("alice", "/directory")
    await waitFor(terminal, "alice", "#lobby")
    assert "#项目组  " not in terminal.screen("alice").split("Public groups")[-1]

    terminal.line("alice", "/kick #项目组 李雷")
    await waitFor(terminal, "lilei", "* 李雷 was removed from #项目组 by alice")
    # Out of the group: plain lines no longer go there.
    await waitFor(terminal, "lilei", "\nchatroom>")
