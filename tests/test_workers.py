"""
C{twistd chatroom --workers 2}: two processes accept connections on one
port, users on different workers chat, and a worker that dies comes back.
"""

import os
import signal
import socket
import subprocess

import pytest_twisted

from chatroom.store import keys
from tests.support.nodes import resp
from tests.support.twistd import TWISTD, Twistd, listeners
from tests.support.websocket import connectWebSocket
from tests.support.wire import until


class WorkersTwistd(Twistd):
    """
    C{twistd -n chatroom --workers 2} on loopback.
    """

    def start(self):
        args = [
            TWISTD, "-n", "--pidfile=", "chatroom", "--workers", "2",
            "--port", "tcp:%d:interface=127.0.0.1" % (self.port,),
            "--debug-port", "tcp:%d:interface=127.0.0.1" % (self.debugPort,),
            "--web", "tcp:%d:interface=127.0.0.1" % (self.webPort,),
            "--data-dir", self.dataDir, "--hash-cost", "1", "--hash-memory", "8",
        ] + self.extra
        with open(self.logPath, "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.dataDir)

    def redis(self, *args):
        """
        One command to the embedded Redis; its raw reply.
        """
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(os.path.join(self.dataDir, "redis.sock"))
        try:
            s.sendall(b"".join([b"*%d\r\n" % len(args)] + [b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args]))
            return s.recv(65536)
        finally:
            s.close()

    def nodeOf(self, user):
        """
        The node (worker) a user is connected to, from its location hash.
        """
        reply = self.redis("HKEYS", keys.locations(user)).split(b"\r\n")
        return reply[2].decode() if len(reply) > 2 and reply[0] == b"*1" else None

    def workerPids(self):
        """
        The pids of the worker processes (children running twistd).
        """
        pids = []
        with open("/proc/%d/task/%d/children" % (self.process.pid, self.process.pid)) as f:
            for pid in f.read().split():
                try:
                    with open("/proc/%s/cmdline" % (pid,), "rb") as c:
                        if b"--reuse-port" in c.read():
                            pids.append(int(pid))
                except OSError:
                    # Gone (reaped) since the parent listed it.
                    pass
        return pids


@pytest_twisted.ensureDeferred
async def test_two_workers_share_the_port_and_their_users_chat(tmp_path):
    server = WorkersTwistd(str(tmp_path), str(tmp_path / "twistd.log"))
    server.start()
    try:
        clients = {"先到": await server.ready("先到")}
        # Both workers listening and part of the cluster before the rest
        # connect: the kernel only shares connections among listeners.
        await until(lambda: listeners(server.port) == 2 and server.redis("SCARD", keys.NODES).startswith(b":2"),
                    timeout=10)
        for i in range(15):
            name = "用户%d" % (i,)
            clients[name] = await server.ready(name)
        byNode = {}
        for name in clients:
            byNode.setdefault(server.nodeOf(name), []).append(name)
        assert len(byNode) == 2, (byNode, server.log())
        (nodeA, usersA), (nodeB, usersB) = sorted(byNode.items())
        assert nodeA.endswith("-w1") and nodeB.endswith("-w2")
        alice, bob = clients[usersA[0]], clients[usersB[0]]

        reply = await alice.request("send", to=usersB[0], text="跨进程 👋")
        assert reply["status"] == "delivered"
        event = await bob.event(type="message", msg_id=reply["msg_id"])
        assert (event["from"], event["text"]) == (usersA[0], "跨进程 👋")

        reply = await bob.request("users", limit=1000)
        assert reply["total"] == 16

        # The web port is shared in the same way: WebSocket users land on
        # both workers and chat with everyone.
        await until(lambda: listeners(server.webPort) == 2, timeout=10)
        web = {}
        for i in range(12):
            name = "网页%d" % (i,)
            web[name] = await connectWebSocket(server.webPort)
            await web[name].request("register", user=name, password="secret")
            await web[name].request("login", user=name, password="secret")
        webByNode = {}
        for name in web:
            webByNode.setdefault(server.nodeOf(name), []).append(name)
        assert sorted(webByNode) == [nodeA, nodeB], webByNode
        sender = webByNode[nodeA][0]
        reply = await web[sender].request("send", to=usersB[0], text="从网页跨进程 🌐")
        assert reply["status"] == "delivered"
        event = await bob.event(type="message", msg_id=reply["msg_id"])
        assert (event["from"], event["text"]) == (sender, "从网页跨进程 🌐")
        for client in web.values():
            await client.close()
        # Their logouts done first: a worker killed in the middle of one is
        # the crash window of docs/storage.rst, not what this test is about.
        await until(lambda: not set(web) & set(resp(server.redis("ZRANGE", keys.ONLINE, "0", "-1"))), timeout=10)

        # A worker killed outright is restarted; its users are counted out.
        victim = server.workerPids()[0]
        with open("/proc/%d/cmdline" % (victim,), "rb") as f:
            victimNode = [a for a in f.read().decode().split("\0") if a.startswith("--node-id=")][0][10:]
        survivors = [name for node, names in byNode.items() if node != victimNode for name in names]
        os.kill(victim, signal.SIGKILL)

        def replaced():
            pids = server.workerPids()
            return len(pids) == 2 and victim not in pids

        try:
            await until(replaced, timeout=10)
        except AssertionError:
            raise AssertionError("the killed worker was not replaced:\n" + server.log())
        fresh = await server.ready("新来的")
        assert (await fresh.request("ping"))["type"] == "ok"
        assert b"restarting it" in server.log().encode()
        # The restarted worker (same node id) counts out what it had.
        expected = sorted(survivors + ["新来的"])
        try:
            await until(lambda: sorted(resp(server.redis("ZRANGE", keys.ONLINE, "0", "-1"))) == expected, timeout=10)
        except AssertionError:
            raise AssertionError("online %r, expected %r:\n%s" % (
                sorted(resp(server.redis("ZRANGE", keys.ONLINE, "0", "-1"))), expected, server.log()))
        online = await fresh.request("users", limit=1000)
        assert sorted(u["user"] for u in online["users"]) == expected
    finally:
        server.stop()
