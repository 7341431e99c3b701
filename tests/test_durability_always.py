"""
C{--appendfsync always}: the real C{twistd chatroom} and its embedded
redis-server are both SIGKILLed at once while sends are still in flight;
after a restart every message the server had acknowledged is in the
history and is pushed to its recipient at login.
"""

import os
import signal
import subprocess

import pytest_twisted
from twisted.internet import defer

from tests.support.chatting import ids, offline, settle
from tests.support.twistd import TWISTD, Twistd, killRedisOf, redisServersOf
from tests.support.wire import WireError, until


class AlwaysTwistd(Twistd):
    """
    C{twistd -n chatroom --appendfsync always}.
    """

    def start(self):
        args = [
            TWISTD, "-n", "--pidfile=", "chatroom", "--appendfsync", "always",
            "--port", "tcp:%d:interface=127.0.0.1" % (self.port,),
            "--debug-port", "tcp:%d:interface=127.0.0.1" % (self.debugPort,),
            "--web", "none",
            "--data-dir", self.dataDir, "--hash-cost", "1", "--hash-memory", "8",
        ]
        with open(self.logPath, "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.dataDir)

    def children(self):
        """
        The pids of the server's child processes (its redis-server).
        """
        pids = []
        taskDir = "/proc/%d/task" % (self.process.pid,)
        for task in os.listdir(taskDir):
            try:
                with open(os.path.join(taskDir, task, "children")) as f:
                    pids += [int(p) for p in f.read().split()]
            except OSError:
                pass
        return pids


@pytest_twisted.ensureDeferred
async def test_every_acknowledged_message_survives_killing_server_and_redis(tmp_path):
    dataDir = str(tmp_path / "data")
    os.makedirs(dataDir)
    server = AlwaysTwistd(dataDir, str(tmp_path / "twistd.log"))
    clients = []
    try:
        server.start()
        bob = await server.ready("bob")
        await bob.request("group.create", group="持久群")
        await bob.close()
        senders = []
        for i in range(4):
            sender = await server.ready("发送者%d" % (i,))
            clients.append(sender)
            await sender.request("group.join", group="持久群")
            senders.append(sender)
        with open(os.path.join(dataDir, "redis.conf")) as f:
            assert "appendfsync always" in f.read()
        [redisPid] = await _redisChild(server, dataDir)

        # 100 sends in flight at once (25 per sender: within the send rate);
        # both processes die the moment the 30th ok arrives.
        acknowledged = []
        killed = []

        def acked(reply):
            acknowledged.append(reply)
            if len(acknowledged) == 30:
                os.kill(redisPid, signal.SIGKILL)
                os.kill(server.process.pid, signal.SIGKILL)
                killed.append(True)
            return reply

        pending = []
        for n in range(25):
            for i, sender in enumerate(senders):
                if n % 2:
                    d = sender.request("send", to="bob", text="私信 %d-%d 💾" % (i, n))
                else:
                    d = sender.request("group.send", group="持久群", text="群消息 %d-%d 🗄" % (i, n))
                pending.append(d.addCallback(acked))
        results = await defer.DeferredList(pending, consumeErrors=True)
        assert killed, "the server answered everything before it could be killed"
        server.process.wait(10)
        await until(lambda: redisPid not in redisServersOf(dataDir), timeout=10)
        for ok, value in results:
            if not ok:
                # Unanswered: cut off by the kill, never an error reply.
                assert not value.check(WireError), value.value.reply

        server.start()
        bob = await server.ready("bob", register=False)
        clients.append(bob)
        await until(lambda: len(offline(bob)) >= len(acknowledged), timeout=20)
        history = set()
        for i in range(4):
            reply = await bob.request("history", limit=200, **{"with": "发送者%d" % (i,)})
            history |= set(ids(reply["messages"]))
        reply = await bob.request("history", group="持久群", limit=200)
        history |= set(ids(reply["messages"]))
        # Messages stored but never acknowledged (the kill cut their reply
        # off) are pushed too: wait for every stored one; then nothing more
        # may come (no event says the push is over): a round trip and a
        # moment.
        await until(lambda: set(ids(offline(bob))) >= history, timeout=10)
        await settle(bob)
        pushed = offline(bob)
        assert all(e["offline"] for e in pushed)
        assert set(ids(acknowledged)) <= set(ids(pushed))
        assert set(ids(acknowledged)) <= history
        # Nothing half-written: every stored message was pushed, whole.
        assert set(ids(pushed)) == history
        assert all(e["text"].startswith(("私信", "群消息")) for e in pushed)
    finally:
        for client in clients:
            await client.close()
        server.stop()
        killRedisOf(dataDir)


async def _redisChild(server, dataDir):
    """
    The redis-server child of the server, found through /proc.
    """
    await until(lambda: any(pid in redisServersOf(dataDir) for pid in server.children()), timeout=10)
    return [pid for pid in server.children() if pid in redisServersOf(dataDir)]
