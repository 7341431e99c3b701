"""
Several real C{twistd chatroom} nodes on one test-owned Redis.
"""

import itertools
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time


from chatroom.store import keys
from tests.support.servers import RedisProcess
from tests.support.twistd import TWISTD, freePort, stopProcess
from tests.support.wire import connect, until

#: Liveness timeout of the test nodes, in seconds (they beat every second).
NODE_TIMEOUT = 3

_names = itertools.count()


def resp(data):
    """
    Decode one RESP reply (as L{RedisProcess.command} returns it).
    """
    def parse(i):
        kind, end = data[i:i + 1], data.index(b"\r\n", i)
        line = data[i + 1:end]
        i = end + 2
        if kind == b"+":
            return line.decode(), i
        if kind == b"-":
            raise RuntimeError(line.decode())
        if kind == b":":
            return int(line), i
        if kind == b"$":
            n = int(line)
            if n < 0:
                return None, i
            return data[i:i + n].decode("utf-8"), i + n + 2
        if kind == b"*":
            items = []
            for _ in range(int(line)):
                item, i = parse(i)
                items.append(item)
            return items, i
        raise ValueError(data)

    return parse(0)[0]


class Node:
    """
    C{twistd -n chatroom} as a child process: one node of the test cluster.
    """

    def __init__(self, redis, node, directory, timeout=NODE_TIMEOUT):
        """
        @param redis: the C{--redis} URL.
        """
        self.redis = redis
        self.node = node
        self.timeout = timeout
        self.port = freePort()
        self.logPath = os.path.join(directory, node + ".log")
        self.process = None

    def start(self):
        args = [
            TWISTD, "-n", "--pidfile=", "chatroom",
            "--redis", self.redis, "--node-id", self.node,
            "--port", "tcp:%d:interface=127.0.0.1" % (self.port,), "--debug-port", "none", "--web", "none",
            "--hash-cost", "1", "--hash-memory", "8", "--node-timeout", str(self.timeout),
            "--idle-timeout", "0",
            # The tests register, log in and send faster than any person.
            "--send-limit", "none", "--request-limit", "none", "--register-limit", "none",
            "--login-limit", "none", "--address-login-limit", "none", "--user-login-limit", "none",
        ]
        with open(self.logPath, "ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, cwd=os.path.dirname(self.logPath)
            )

    def waitReady(self, timeout=30):
        """
        Block until the node accepts connections and answers a C{register}
        (C{unavailable} while it connects to Redis).
        """
        deadline = time.monotonic() + timeout
        user = "ready_%s_%d" % (self.node, next(_names))
        while True:
            if self.process.poll() is not None:
                raise AssertionError("%s exited: %s\n%s" % (self.node, self.process.returncode, self.log()))
            try:
                reply = self._register(user)
                if reply.get("type") == "ok" or reply.get("code") == "user_exists":
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("%s not ready:\n%s" % (self.node, self.log()))
            time.sleep(0.05)

    def _register(self, user):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            body = json.dumps({"type": "register", "id": 1, "user": user, "password": "pw"}).encode()
            s.sendall(struct.pack(">I", len(body)) + body)
            data = b""
            while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
                chunk = s.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                data += chunk
            return json.loads(data[4:4 + struct.unpack(">I", data[:4])[0]])

    def log(self):
        try:
            with open(self.logPath, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def kill(self):
        """
        SIGKILL: the node dies without saying goodbye.
        """
        self.process.kill()
        self.process.wait(10)

    def stop(self, timeout=10):
        """
        SIGTERM, then SIGKILL if it lingers.
        """
        if self.process is not None:
            stopProcess(self.process, timeout)


class Cluster:
    """
    One Redis and the nodes on it; the clients the current test opened.
    """

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="chatroom-test-cluster-")
        self.redis = RedisProcess()
        self.nodes = {}
        self.clients = []

    def start(self, *names, timeout=NODE_TIMEOUT):
        """
        Start nodes named C{names} at once; wait until each answers.
        """
        started = [Node("unix://" + self.redis.socket, name, self.dir, timeout) for name in names]
        for node in started:
            self.nodes[node.node] = node
            node.start()
        for node in started:
            node.waitReady()
        return started

    def stop(self):
        for node in self.nodes.values():
            node.stop()
        self.redis.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def redisCall(self, *args):
        return resp(self.redis.command(*args))

    def online(self):
        """
        The users online according to Redis.
        """
        return self.redisCall("ZRANGE", keys.ONLINE, 0, -1)

    async def client(self, node):
        client = await connect(self.nodes[node].port)
        self.clients.append(client)
        return client

    async def user(self, name, node, register=True, password="secret"):
        """
        A connection to C{node} logged in as C{name}.
        """
        client = await self.client(node)
        if register:
            await client.request("register", user=name, password=password)
        client.login = await client.request("login", user=name, password=password)
        return client

    async def closeClients(self):
        clients, self.clients = self.clients, []
        for client in clients:
            await client.close()

    async def quiet(self):
        """
        Wait until every user of earlier tests is counted offline, so that
        counts are this test's own.
        """
        await until(lambda: self.online() == [], timeout=5)


def names(*bases):
    """
    User or group names unique in this module (Chinese included).
    """
    n = next(_names)
    return ["%s%d" % (base, n) for base in bases]


