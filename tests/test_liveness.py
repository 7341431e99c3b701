"""
Tests for L{chatroom.liveness}: idle connections are closed, any frame
keeps a connection alive, presence follows, and accepted TCP connections
have keepalive and TCP_NODELAY.
"""

import socket
import time

import pytest_twisted
from twisted.internet import reactor, task
from twisted.internet.interfaces import ITCPTransport
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from zope.interface import implementer

from chatroom.limits import Limits
from chatroom.liveness import IdleSweeper, tuneTransport
from tests.support.fakes import connectFrames, connectLines, frame, makeService, readFrames
from tests.support.servers import startChatServer
from tests.support.wire import until


class FakeSession:
    def __init__(self, lastHeard):
        self.lastHeard = lastHeard
        self.closed = None

    def idleTimedOut(self, seconds):
        self.closed = seconds


def test_sweeperClosesOnlyIdleSessions():
    clock = Clock()
    quiet, busy = FakeSession(0), FakeSession(0)
    sweeper = IdleSweeper(clock, 10, [quiet, busy])
    sweeper.start()
    assert sweeper.interval == 2.5
    clock.advance(7.5)
    busy.lastHeard = clock.seconds()
    clock.advance(2.5)
    assert (quiet.closed, busy.closed) == (10, None)
    clock.advance(7.0)
    assert busy.closed is None
    clock.advance(0.5)
    assert busy.closed == 10
    # One timer, whatever the number of sessions.
    assert len(clock.getDelayedCalls()) == 1
    sweeper.stop()
    assert clock.getDelayedCalls() == []


def test_noSweepWithoutTimeout():
    clock = Clock()
    sweeper = IdleSweeper(clock, 0, [FakeSession(0)])
    sweeper.start()
    assert clock.getDelayedCalls() == []


def test_idleConnectionClosed():
    """
    A connection that sends nothing for the idle timeout is closed; every
    frame (a ping, even a frame that is not JSON) puts it off.
    """
    # Without the login deadline, which would close it first.
    service = makeService(limits=Limits(idleTimeout=90, loginTimeout=0))
    protocol, transport = connectFrames(service)
    clock = service.reactor
    clock.advance(80)
    protocol.dataReceived(frame({"type": "ping", "id": 1}))
    clock.advance(80)
    protocol.dataReceived(frame(b"not json"))
    clock.advance(80)
    assert not transport.disconnecting
    assert [r["type"] for r in readFrames(transport)] == ["ok", "error"]
    clock.advance(10)
    # Told why, then closed once the bye is written; a client that does
    # not read it is aborted at the next sweep.
    assert transport.disconnecting
    assert readFrames(transport) == [{"type": "bye", "reason": "idle"}]
    clock.advance(5)
    assert transport.disconnected
    # Gone for the service too (the protocol tells it when the transport
    # reports the close).
    protocol.connectionLost(None)
    assert len(service.sessions) == 0
    # Only the sweep, shared by all connections, is left.
    assert len(clock.getDelayedCalls()) == 1


def test_idleDebugConnectionClosed():
    service = makeService(limits=Limits(idleTimeout=5))
    protocol, transport = connectLines(service)
    service.reactor.advance(4)
    protocol.dataReceived(b'{"type": "ping"}\n')
    service.reactor.advance(4)
    assert not transport.disconnecting
    # Closed at the first sweep (every 1.25 s) after 5 s of silence.
    service.reactor.advance(2)
    assert transport.disconnecting


def test_connectionsShareOneTimer():
    """
    One idle sweep and one login-deadline sweep, however many connections.
    """
    service = makeService(limits=Limits(idleTimeout=5))
    for _ in range(100):
        connectFrames(service)
    assert len(service.reactor.getDelayedCalls()) == 2


def test_noIdleTimeout():
    service = makeService(limits=Limits(idleTimeout=0, loginTimeout=0))
    protocol, transport = connectFrames(service)
    service.reactor.advance(10 ** 6)
    assert not transport.disconnecting


@implementer(ITCPTransport)
class TCPLikeTransport(StringTransport):
    def __init__(self, fails=False):
        super().__init__()
        self.options = []
        self.fails = fails

    def setTcpKeepAlive(self, enabled):
        if self.fails:
            raise OSError("not a TCP socket")
        self.options.append(("keepalive", enabled))

    def setTcpNoDelay(self, enabled):
        self.options.append(("nodelay", enabled))


def test_tuneTransport():
    transport = TCPLikeTransport()
    tuneTransport(transport)
    assert transport.options == [("keepalive", True), ("nodelay", True)]
    # Not TCP: left alone (a StringTransport has neither method).
    tuneTransport(StringTransport())
    # A failure is not fatal.
    failing = TCPLikeTransport(fails=True)
    tuneTransport(failing)
    assert failing.options == [("nodelay", True)]


@pytest_twisted.ensureDeferred
async def test_acceptedSocketsHaveKeepaliveAndNoDelay(redis_process):
    redis_process.flush()
    server = await startChatServer(redis_process)
    try:
        await server.client()
        await until(lambda: server.service.sessions)
        [session] = server.service.sessions
        sock = session.protocol.transport.getHandle()
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        await server.stop()


@pytest_twisted.ensureDeferred
async def test_idleUserGoesOffline(redis_process):
    """
    Over real TCP: a user whose client falls silent is disconnected after
    the idle timeout and shown offline to the others, while a user who
    pings stays.
    """
    redis_process.flush()
    server = await startChatServer(redis_process, limits=Limits(idleTimeout=0.6))
    try:
        alice = await server.user("阿丽")
        aliceSince = time.monotonic()
        bob = await server.user("bob")
        await alice.event(type="presence", user="bob", status="online")
        # Alice pings every 0.1 s until bob, silent since after her login,
        # is closed: without the pings she would have been closed first.
        pinging = task.LoopingCall(alice.request, "ping")
        pinging.clock = reactor
        pinged = pinging.start(0.1)
        try:
            offline = await alice.event(type="presence", user="bob", status="offline", timeout=3)
            assert offline["user"] == "bob"
            await until(lambda: not bob.connected)
        finally:
            if pinging.running:
                pinging.stop()
        await pinged
        assert alice.connected
        assert time.monotonic() - aliceSince > 0.6
        reply = await alice.request("users")
        assert [u["user"] for u in reply["users"]] == ["阿丽"]
    finally:
        await server.stop()
