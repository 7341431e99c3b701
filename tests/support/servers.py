"""
Starting real servers for tests: redis-server processes and in-process
chatroom servers listening on loopback.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from twisted.application.service import MultiService
from twisted.internet import reactor

from chatroom.passwords import PasswordHasher
from chatroom.protocol import DEFAULT_MAX_FRAME
from chatroom.redis_server import EmbeddedRedis, findRedisServer
from chatroom.server import ChatFactory, debugFactory
from chatroom.service import ChatService
from chatroom.store.messages import DEFAULT_RETENTION
from chatroom.store.redis import RedisStore
from chatroom.store.routing import keySlot
from tests.support.lines import connectLines
from tests.support.wire import ServerCalls, connect, until, wait


class RedisProcess:
    """
    A redis-server child process with the embedded server's configuration,
    on a unix socket in a fresh directory: the binary the server would
    embed (L{findRedisServer}: a Redis 7 on C{PATH} where there is one, so
    CI tests Redis 7).
    """

    def __init__(self, appendfsync="everysec"):
        self.dir = tempfile.mkdtemp(prefix="chatroom-test-redis-")
        # Reuse the embedded server's configuration, so tests run what users run.
        self.embedded = EmbeddedRedis(reactor, self.dir, appendfsync)
        self.socket = self.embedded.socket
        self.process = None

    def start(self):
        """
        Start redis-server and wait until it answers.
        """
        conf = os.path.join(self.dir, "redis.conf")
        with open(conf, "w") as f:
            f.write(self.embedded.config())
        self.process = subprocess.Popen([findRedisServer(), conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.ping():
                return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def command(self, *args):
        """
        Run one command synchronously (for fixtures and assertions); the raw
        RESP reply bytes.
        """
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(self.socket)
        try:
            out = b"*%d\r\n" % len(args)
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
            s.sendall(out)
            return s.recv(65536)
        finally:
            s.close()

    def storeArguments(self):
        """
        Where this Redis is, as L{RedisStore} takes it.
        """
        return {"path": self.socket}

    def ping(self):
        try:
            return self.command("PING").startswith(b"+PONG")
        except OSError:
            return False

    def flush(self):
        """
        Empty the database.
        """
        assert self.command("FLUSHALL").startswith(b"+OK")

    def kill(self, sig=signal.SIGKILL):
        """
        Kill redis-server (it is gone when this returns).
        """
        if self.process is not None:
            self.process.send_signal(sig)
            self.process.wait(10)
            self.process = None

    def stop(self):
        """
        Stop redis-server and remove its directory.
        """
        self.kill(signal.SIGTERM)
        shutil.rmtree(self.dir, ignore_errors=True)


class ChatServer(ServerCalls):
    """
    A chatroom server running in the test's reactor, on loopback.
    """

    def __init__(self, services, service, listening, hasher=None, redis=None):
        self.services = services
        self.hasher = hasher
        #: The L{RedisProcess} it stores in.
        self.redis = redis
        self.service = service
        self.listening = listening
        self.port = listening[0].getHost().port
        self.debugPort = listening[1].getHost().port
        self.clients = []

    async def client(self, lines=False):
        """
        A new connection to the main port, or with C{lines} to the debug
        port (closed at teardown).
        """
        client = await (connectLines(self.debugPort) if lines else connect(self.port))
        self.clients.append(client)
        return client

    async def wait(self, seconds):
        """
        Let C{seconds} pass.
        """
        await wait(seconds)

    async def until(self, predicate, timeout=5.0):
        """
        Wait until C{predicate()} is true.
        """
        await until(predicate, timeout=timeout)

    async def stop(self):
        """
        Close every client, stop listening and stop the services.
        """
        for client in self.clients:
            await client.close()
        for port in self.listening:
            await port.stopListening()
        await self.services.stopService()


async def startChatServer(redis, node="test-node", retention=DEFAULT_RETENTION, maxFrame=DEFAULT_MAX_FRAME,
                          **options):
    """
    Start a chatroom server on C{redis} (a L{RedisProcess}, or a
    L{tests.support.rediscluster.RedisCluster}); wait until it is ready.
    """
    top = MultiService()
    store = RedisStore(reactor, node, retention=retention, **redis.storeArguments())
    _checkSlots(store.link)
    hasher = PasswordHasher(reactor, reactor.getThreadPool(), timeCost=1, memoryKiB=8)
    service = ChatService(reactor, store, hasher, node, **options)
    service.setServiceParent(top)
    top.startService()
    listening = [
        reactor.listenTCP(0, ChatFactory(service.sessions, maxFrame), interface="127.0.0.1"),
        reactor.listenTCP(0, debugFactory(service.sessions, maxFrame), interface="127.0.0.1"),
    ]
    await service.ready
    return ChatServer(top, service, listening, hasher, redis)


def _checkSlots(link):
    """
    Make every script C{link} runs check that its keys share one hash slot,
    as a Redis Cluster would: every Redis test then checks the rule.
    """
    run = link.run

    def checked(script, keys, args):
        slots = {keySlot(key) for key in keys}
        assert len(slots) <= 1, "script %s reaches across hash slots: %r" % (script.name, keys)
        return run(script, keys, args)

    link.run = checked
