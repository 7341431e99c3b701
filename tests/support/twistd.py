"""
Real C{twistd chatroom} processes for tests: free ports, starting and
stopping them, and the redis-server processes they leave.
"""

import os
import signal
import socket
import subprocess
import sys
import time

from twisted.internet.error import ConnectError

from tests.support.wire import WireError, connect, wait

TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")


def freePort():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listeners(port):
    """
    How many sockets listen on TCP C{port} of 127.0.0.1 (several with
    C{SO_REUSEPORT}).
    """
    local = "0100007F:%04X" % (port,)
    with open("/proc/net/tcp") as f:
        return sum(1 for line in f.readlines()[1:] if line.split()[1:4:2] == [local, "0A"])


def redisServersOf(dataDir):
    """
    The pids of redis-server processes serving C{dataDir} (their command
    line names the socket inside it).
    """
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % (pid,), "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if b"redis-server" in cmdline and dataDir.encode() in cmdline:
            found.append(int(pid))
    return found


def stopProcess(process, timeout=10):
    """
    SIGTERM, then SIGKILL if it lingers.
    """
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


class Twistd:
    """
    C{twistd -n chatroom} as a child process on loopback ports.
    """

    def __init__(self, dataDir, logPath, extra=()):
        """
        @param extra: more options of C{twistd chatroom}.
        """
        self.dataDir = dataDir
        self.logPath = logPath
        self.extra = list(extra)
        self.port = freePort()
        self.debugPort = freePort()
        self.webPort = freePort()
        self.process = None

    def start(self):
        args = [
            TWISTD, "-n", "--pidfile=", "chatroom",
            "--port", "tcp:%d:interface=127.0.0.1" % (self.port,),
            "--debug-port", "tcp:%d:interface=127.0.0.1" % (self.debugPort,),
            "--web", "tcp:%d:interface=127.0.0.1" % (self.webPort,),
            "--data-dir", self.dataDir, "--hash-cost", "1", "--hash-memory", "8",
        ] + self.extra
        with open(self.logPath, "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.dataDir)

    async def ready(self, user, password="secret", register=True, timeout=30):
        """
        A client logged in as C{user} once the server accepts connections
        and its storage answers (C{unavailable} while Redis starts).
        """
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError("twistd exited: %s\n%s" % (self.process.returncode, self.log()))
            try:
                client = await connect(self.port)
            except ConnectError:
                client = None
            if client is not None:
                try:
                    if register:
                        try:
                            await client.request("register", user=user, password=password)
                        except WireError as e:
                            if e.code != "user_exists":
                                raise
                    await client.request("login", user=user, password=password)
                    return client
                except WireError as e:
                    if e.code != "unavailable":
                        raise
                    await client.close()
            if time.monotonic() > deadline:
                raise AssertionError("twistd not ready:\n" + self.log())
            await wait(0.1)

    def log(self):
        with open(self.logPath, "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]

    def kill(self):
        self.process.kill()
        self.process.wait(10)

    def stop(self):
        if self.process is not None:
            stopProcess(self.process)


def killRedisOf(dataDir):
    """
    SIGKILL the redis-server processes serving C{dataDir} (what a test's
    killed server left).
    """
    for pid in redisServersOf(dataDir):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
