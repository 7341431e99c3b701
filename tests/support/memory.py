"""
A chatroom node on the in-memory store and a fake clock, with clients that
speak to it through in-memory transports: the rule tests run on it as they
run on a real server over TCP and Redis (L{tests.support.servers}), with the
same calls, but with no sleeps: waiting moves the fake clock.
"""

import itertools
import json
import struct

from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from chatroom.passwords import PasswordHasher
from chatroom.protocol import DEFAULT_MAX_FRAME
from chatroom.server import ChatFactory, debugFactory
from chatroom.service import ChatService
from chatroom.store.memory import MemoryData, MemoryStore
from chatroom.store.messages import DEFAULT_RETENTION
from tests.support.wire import ClientCalls, ServerCalls

#: Where the fake clock starts: msg_ids carry it, like a real server's.
EPOCH = 1_800_000_000.0

#: The longest a fake wait runs before it gives up, in fake seconds.
PATIENCE = 60.0


class FakeClock(MemoryReactorClock):
    """
    A memory reactor whose threads are the reactor thread (password hashes
    are computed at once).
    """

    def callFromThread(self, f, *args, **kwargs):
        self.callLater(0, f, *args, **kwargs)


class ImmediatePool:
    """
    A thread pool that runs its work at once, in the caller's thread.
    """

    def callInThreadWithCallback(self, onResult, f, *args, **kwargs):
        try:
            result = f(*args, **kwargs)
        except BaseException:
            onResult(False, Failure())
        else:
            onResult(True, result)


class _ServerTransport(StringTransport):
    """
    The server's end of an in-memory connection.  What the server wrote
    and the client has not read yet counts as unsent (C{dataBuffer}), so
    the server's bound on unread output applies; closing tells the
    protocol on the next turn of the clock, as a real transport does.

    A streaming producer is paused while more than L{bufferSize} bytes
    are unread, resumed when the client has read them all, and stopped
    when the connection is lost, as Twisted's socket transports do
    (C{twisted.internet.abstract.FileDescriptor}).
    """

    #: Unread bytes over which a streaming producer is paused (as
    #: C{FileDescriptor.bufferSize}).
    bufferSize = 2 ** 16

    def __init__(self, clock, port, host="127.0.0.1"):
        # An IPv6 peer (host holds ':') comes to the server's IPv6 side.
        if ":" in host:
            hostAddress, peerAddress = IPv6Address("TCP", "::1", 8889), IPv6Address("TCP", host, port)
        else:
            hostAddress, peerAddress = IPv4Address("TCP", "127.0.0.1", 8889), IPv4Address("TCP", host, port)
        super().__init__(hostAddress=hostAddress, peerAddress=peerAddress)
        self.clock = clock
        self.offset = 0
        self._tempDataLen = 0
        self.lost = False
        self.producerPaused = False

    @property
    def dataBuffer(self):
        return self.value()

    def write(self, data):
        super().write(data)
        if self.producer is not None and self.streaming and self.io.tell() > self.bufferSize:
            self.producerPaused = True
            self.producer.pauseProducing()

    def writeSequence(self, data):
        self.write(b"".join(data))

    def registerProducer(self, producer, streaming):
        if self.lost:
            producer.stopProducing()
        else:
            super().registerProducer(producer, streaming)

    def drained(self):
        """
        The client read all there was: resume a producer paused for it.
        """
        if self.producer is not None and (not self.streaming or self.producerPaused):
            self.producerPaused = False
            self.producer.resumeProducing()

    def loseConnection(self):
        if not self.disconnecting:
            self.disconnecting = True
            self.clock.callLater(0, self.connectionLost, ConnectionDone())

    def abortConnection(self):
        self.loseConnection()

    def connectionLost(self, reason):
        if not self.lost:
            self.lost = True
            if self.producer is not None:
                producer, self.producer = self.producer, None
                producer.stopProducing()
            self.protocol.connectionLost(Failure(reason))


class _ClientEnd:
    """
    What a test sees of its end of the connection (as of a TCP transport).
    """

    def __init__(self, client):
        self._client = client

    def getHost(self):
        return self._client.server.getPeer()

    def pauseProducing(self):
        self._client.reading = False

    def resumeProducing(self):
        self._client.reading = True
        self._client.chat.pump()

    def loseConnection(self):
        self._client.close()

    def loseWriteConnection(self):
        self._client.endInput()

    def abortConnection(self):
        self._client.close(ConnectionLost())


class MemoryClient(ClientCalls):
    """
    One connection of a test user to a L{MemoryChat}: the same calls as
    L{tests.support.wire.TestClient}.
    """

    #: What ends the lines this client writes (with C{lines}).
    lineEnd = b"\n"

    def __init__(self, chat, port, lines=False, host="127.0.0.1"):
        self.chat = chat
        self.lines = lines
        self.inputEnded = False
        self.nextId = 0
        self.waiting = {}
        self.replies = []
        self.events = []
        self.closed = defer.Deferred()
        self.connected = True
        self.reading = True
        self._buffer = b""
        self.server = _ServerTransport(chat.clock, port, host)
        factory = (debugFactory if lines else ChatFactory)(chat.service.sessions, chat.maxFrame)
        self.protocol = factory.buildProtocol(self.server.getPeer())
        self.server.protocol = self.protocol
        self.protocol.makeConnection(self.server)
        self.transport = _ClientEnd(self)

    # Reading what the server wrote.

    def read(self):
        """
        Take what the server wrote; whether anything was.
        """
        if not self.reading:
            return False
        data = self.server.value()
        if not data:
            return False
        self.server.clear()
        self._buffer += data
        if self.lines:
            *whole, self._buffer = self._buffer.split(b"\r\n")
            for line in whole:
                if line:
                    self.route(json.loads(line.decode("utf-8")))
        else:
            while len(self._buffer) >= 4:
                (length,) = struct.unpack(">I", self._buffer[:4])
                if len(self._buffer) < 4 + length:
                    break
                payload, self._buffer = self._buffer[4:4 + length], self._buffer[4 + length:]
                self.route(json.loads(payload.decode("utf-8")))
        self.server.drained()
        return True

    def serverClosed(self):
        """
        Whether the server has closed the connection; if so, say so once.
        """
        if self.connected and self.server.lost:
            self._lost(ConnectionDone())
        return not self.connected

    def _lost(self, reason):
        self.connected = False
        waiting, self.waiting = list(self.waiting.values()), {}
        for d in waiting:
            d.errback(Failure(reason))
        self.closed.callback(None)

    # Writing.

    def sendObject(self, obj):
        """
        Send C{obj} as one frame (or line).
        """
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.sendRaw(data + self.lineEnd if self.lines else struct.pack(">I", len(data)) + data)

    def sendRaw(self, data):
        """
        Give raw bytes to the server.
        """
        if self.connected and not self.server.lost and not self.inputEnded:
            self.protocol.dataReceived(data)
        self.chat.pump()

    def endInput(self):
        """
        Close our sending side (a TCP half-close): the server reads no more,
        and is told as a Twisted TCP transport tells it.
        """
        if self.connected and not self.server.lost and not self.inputEnded:
            self.inputEnded = True
            if IHalfCloseableProtocol.providedBy(self.protocol):
                self.protocol.readConnectionLost()
            else:
                self.server.connectionLost(ConnectionDone())
        self.chat.pump()

    def request(self, type, **fields):
        """
        Send a request; a Deferred of its C{ok} reply (errback
        L{WireError}), run until it came.
        """
        self.nextId += 1
        rid = self.nextId
        d = defer.Deferred()
        self.waiting[rid] = d
        self.sendObject(dict(fields, type=type, id=rid))
        self.chat.runUntil(lambda: d.called, "the reply to %s" % (type,))
        return d

    async def event(self, timeout=5, **match):
        """
        The first event (already received or future) with the given fields.
        """
        def take():
            for obj in self.events:
                if all(obj.get(k) == v for k, v in match.items()):
                    self.events.remove(obj)
                    return obj
            return None

        found = []

        def arrived():
            obj = take()
            if obj is not None:
                found.append(obj)
            return bool(found)

        self.chat.runUntil(arrived, "an event %r" % (match,), timeout=timeout, fail=defer.TimeoutError)
        return found[0]

    def wait(self, seconds):
        """
        Let C{seconds} pass.
        """
        return self.chat.wait(seconds)

    def until(self, predicate, timeout=5.0):
        """
        Run until C{predicate()} is true.
        """
        return self.chat.until(predicate, timeout)

    def close(self, reason=None):
        """
        Close the connection; a Deferred that fires when it is closed.
        """
        if self.connected:
            self.server.connectionLost(reason or ConnectionDone())
            self._lost(reason or ConnectionDone())
            self.chat.pump()
        return self.closed


class _ClockedHasher:
    """
    The node's password hasher as a test calls it: a hash is handed back on
    a turn of the fake clock, which nothing turns while the test awaits it,
    so each call runs the clock until its result is there.
    """

    def __init__(self, chat, hasher):
        self._chat = chat
        self._hasher = hasher

    def _settled(self, d):
        self._chat.runUntil(lambda: d.called, "the password hasher")
        return d

    def hash(self, password):
        """
        A Deferred of the encoded hash of C{password} (fired).
        """
        return self._settled(self._hasher.hash(password))

    def verify(self, encoded, password):
        """
        A Deferred of whether C{password} matches C{encoded} (fired).
        """
        return self._settled(self._hasher.verify(encoded, password))


class MemoryChat(ServerCalls):
    """
    A chat node on a L{MemoryStore} and a L{FakeClock}: the same calls as
    L{tests.support.servers.ChatServer}, plus L{wait} and L{until}, which
    move the fake clock.
    """

    def __init__(self, node="test-node", retention=DEFAULT_RETENTION, maxFrame=DEFAULT_MAX_FRAME, data=None,
                 clock=None, **options):
        self.clock = clock if clock is not None else FakeClock()
        if clock is None:
            self.clock.advance(EPOCH)
        self.store = MemoryStore(self.clock, node, retention=retention,
                                 data=data if data is not None else MemoryData(self.clock))
        hasher = PasswordHasher(self.clock, ImmediatePool(), timeCost=1, memoryKiB=8)
        self.service = ChatService(self.clock, self.store, hasher, node, **options)
        self.hasher = _ClockedHasher(self, hasher)
        self.maxFrame = maxFrame
        self.clients = []
        self._ports = itertools.count(40000)
        self.service.startService()
        self.runUntil(lambda: self.service.ready.called, "the node to be ready")

    # Time.

    def pump(self):
        """
        Run everything due now, and let every client read, until nothing
        more happens.
        """
        for _ in range(10000):
            busy = False
            clock = self.clock
            while any(call.getTime() <= clock.seconds() for call in clock.getDelayedCalls()):
                clock.advance(0)
                busy = True
            for client in self.clients:
                busy = client.read() or busy
                client.serverClosed()
            if not busy:
                return
        raise AssertionError("the node never settles")

    def runUntil(self, predicate, what, timeout=PATIENCE, fail=AssertionError):
        """
        Run the clock (what is due now, then the next timers) until
        C{predicate()} is true, for at most C{timeout} fake seconds.
        """
        deadline = self.clock.seconds() + timeout
        while True:
            self.pump()
            if predicate():
                return
            later = [call.getTime() for call in self.clock.getDelayedCalls()]
            step = min(later) if later else deadline
            if step > deadline:
                step = deadline
            if self.clock.seconds() >= deadline:
                raise fail("waited %s fake seconds for %s" % (timeout, what))
            self.clock.advance(max(0, step - self.clock.seconds()))

    async def wait(self, seconds):
        """
        Let C{seconds} pass on the fake clock.
        """
        deadline = self.clock.seconds() + seconds
        self.runUntil(lambda: self.clock.seconds() >= deadline, "time to pass", timeout=seconds + 1)

    async def until(self, predicate, timeout=5.0):
        """
        Run until C{predicate()} is true.
        """
        self.runUntil(predicate, "a condition", timeout=timeout)

    # Clients.

    async def client(self, lines=False, host="127.0.0.1"):
        """
        A new connection (closed at teardown), from the remote address
        C{host} (as a TCP client bound to another 127.x.y.z would be; an
        IPv6 address comes as an C{IPv6Address}).
        """
        client = MemoryClient(self, next(self._ports), lines, host)
        self.clients.append(client)
        self.pump()
        return client

    async def stop(self):
        """
        Close every client and stop the node.
        """
        for client in self.clients:
            await client.close()
        d = self.service.stopService()
        self.pump()
        await d
