"""
C{--redis sentinel://...}: a node follows its Redis master through a
Sentinel failover (a real master, replica and Sentinel on loopback).
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
import pytest_twisted

from chatroom.redis_server import findRedisServer
from chatroom.tap import Options
from tests.support.chatting import receive, settle
from tests.support.nodes import Node, resp
from tests.support.twistd import freePort
from tests.support.wire import WireError, connect, until, wait

MASTER = "聊天主库"


def command(port, *args):
    """
    One command to the Redis (or Sentinel) on C{port}; its decoded reply.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(out)
        data = b""
        while True:
            chunk = s.recv(65536)
            data += chunk
            try:
                return resp(data)
            except (ValueError, IndexError):
                if not chunk:
                    raise


def waitFor(predicate, timeout=10, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("%s not met within %s s" % (what, timeout))
        time.sleep(0.05)


def test_sentinel_url_option():
    """
    C{--redis} takes the Sentinels and the master's name.
    """
    options = Options()
    options.parseOptions(["--redis", "sentinel://:s%40cret@127.0.0.1:26379,[::1],db.example:26380/" + MASTER + "/2"])
    assert options["redis"] == {
        "sentinels": [("127.0.0.1", 26379), ("::1", 26379), ("db.example", 26380)],
        "master": MASTER, "db": 2, "password": "s@cret",
    }
    for bad in ("sentinel://127.0.0.1:26379", "sentinel://h:port/m", "sentinel://h/m/db"):
        with pytest.raises(Exception, match="--redis"):
            Options().parseOptions(["--redis", bad])


class Replicated:
    """
    A master, a replica and one Sentinel watching them, on loopback.
    """

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="chatroom-test-sentinel-")
        self.master, self.replica, self.sentinel = freePort(), freePort(), freePort()
        self.processes = {}

    def _redis(self, name, *args):
        directory = os.path.join(self.dir, name)
        os.makedirs(directory)
        log = open(os.path.join(directory, "log"), "ab")
        with log:
            self.processes[name] = subprocess.Popen(
                [findRedisServer(), *args, "--dir", directory], stdout=log, stderr=subprocess.STDOUT
            )

    def start(self):
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._redis("master", "--port", str(self.master), *common)
        self._redis("replica", "--port", str(self.replica), *common, "--replicaof", "127.0.0.1", str(self.master))
        # Sentinel finds replicas in the master's INFO, asked every 10 s:
        # start it once the replica is in sync, so its first INFO has it.
        waitFor(lambda: "master_link_status:up" in command(self.replica, "INFO", "replication"),
                what="replica in sync")
        conf = os.path.join(self.dir, "sentinel.conf")
        with open(conf, "w") as f:
            f.write("port %d\nbind 127.0.0.1\n" % (self.sentinel,))
            f.write("sentinel monitor %s 127.0.0.1 %d 1\n" % (MASTER, self.master))
            f.write("sentinel down-after-milliseconds %s 1000\n" % (MASTER,))
            f.write("sentinel failover-timeout %s 5000\n" % (MASTER,))
        self._redis("sentinel", conf, "--sentinel")

        def replicaKnown():
            for replica in command(self.sentinel, "SENTINEL", "REPLICAS", MASTER):
                fields = dict(zip(replica[::2], replica[1::2]))
                if fields["flags"] == "slave" and fields["master-link-status"] == "ok":
                    return True
            return False

        waitFor(replicaKnown, what="replica known to Sentinel")

    def masterPort(self):
        return int(command(self.sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)[1])

    def kill(self, name):
        self.processes[name].kill()
        self.processes[name].wait(10)

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest_twisted.ensureDeferred
async def test_node_follows_the_master_through_a_failover():
    redis = Replicated()
    node = None
    clients = []
    try:
        redis.start()
        node = Node("sentinel://127.0.0.1:%d/%s" % (redis.sentinel, MASTER), "nodeSentinel", redis.dir)
        node.start()
        node.waitReady()

        async def user(name, register=True):
            client = await connect(node.port)
            clients.append(client)
            if register:
                await client.request("register", user=name, password="secret")
            await client.request("login", user=name, password="secret")
            return client

        alice = await user("主库甲")
        bob = await user("主库乙")
        await bob.close()
        await until(lambda: not command(redis.master, "EXISTS", "cr:loc:主库乙"), timeout=5)
        before = await alice.request("send", to="主库乙", text="故障转移之前 🛟")
        assert before["status"] == "stored"
        # Replication is asynchronous: an acknowledged write the replica
        # has not received is lost in a failover.  Here it has it.
        assert command(redis.master, "WAIT", 1, 5000) == 1

        redis.kill("master")
        failed = time.monotonic()
        while True:
            try:
                after = await alice.request("send", to="主库乙", text="故障转移之后 🧭")
                break
            except WireError as e:
                assert e.code == "unavailable"
            assert time.monotonic() - failed < 20, "no new master within 20 s:\n" + node.log()
            # Asked again until the node has found the new master (no event
            # of its own says so to a client).
            await wait(0.1)
        assert redis.masterPort() == redis.replica
        assert after["status"] == "stored"
        assert "Sentinel names 127.0.0.1:%d" % (redis.replica,) in node.log()

        bob = await user("主库乙", register=False)
        await receive(bob, 2)
        # Then nothing more may come (no event says the push is over): a
        # round trip and a moment.
        await settle(bob)
        pushed = [e for e in bob.events if e.get("type") == "message"]
        assert [(e["msg_id"], e["text"], e["offline"]) for e in pushed] == [
            (before["msg_id"], "故障转移之前 🛟", True), (after["msg_id"], "故障转移之后 🧭", True),
        ]
    finally:
        for client in clients:
            await client.close()
        if node is not None:
            node.stop()
        redis.stop()


@pytest_twisted.ensureDeferred
async def test_send_fails_unavailable_when_redis_is_gone(redis_process, monkeypatch):
    """
    A send whose Redis went away (as in a failover, before the link
    noticed) fails with C{unavailable} at once instead of never being
    answered, for a first message (two steps) as for a later one.
    """
    from twisted.internet import reactor

    from chatroom import errors
    from chatroom.store.connection import RedisLink
    from chatroom.store.messages import MessageStore

    link = RedisLink(reactor, path=redis_process.socket)
    link.startService()
    try:
        await link.whenConnected()
        store = MessageStore(link)

        def gone():
            raise errors.Unavailable()

        monkeypatch.setattr(link, "_connection", gone)
        for known in (False, True):
            if known:
                store._introduced[("发送者", "接收者")] = True
            with pytest.raises(errors.Unavailable):
                await store.sendDirect("发送者", "接收者", "丢失 📡").addTimeout(2, reactor)
    finally:
        monkeypatch.undo()
        await link.stopService()
