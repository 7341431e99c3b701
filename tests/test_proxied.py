"""
Ports behind a load balancer that speaks the PROXY protocol (C{--port
haproxy:tcp:...}): the session starts once the header said who the client
is, so the per-address limits and the security log see the client's
address, not the balancer's; with one process and with C{--workers 2}.
And the warning for a port that takes clear text from beyond loopback.
"""

import ipaddress
import struct
import subprocess
import time

import pytest
import pytest_twisted
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.internet.address import IPv4Address
from twisted.logger import formatEvent, globalLogPublisher

from chatroom.ports import cleartextExposure
from chatroom.proxied import HEADER_TIMEOUT, ProxiedFactory
from chatroom.tap import Options, makeService
from tests.support.twistd import TWISTD, Twistd, listeners
from tests.support.wire import WireError, connect, until, wait


def v1(source, port=40000, destination="127.0.0.1", destinationPort=8889):
    """
    A PROXY v1 header from C{source}.
    """
    family = "TCP6" if ":" in source else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (family, source, destination, port, destinationPort)).encode("ascii")


def v2(source, port=40000, destination=None, destinationPort=8889):
    """
    A PROXY v2 header (PROXY command, TCP) from C{source}.
    """
    ip = ipaddress.ip_address(source)
    if destination is None:
        destination = "::1" if ip.version == 6 else "127.0.0.1"
    addresses = ip.packed + ipaddress.ip_address(destination).packed + struct.pack(">HH", port, destinationPort)
    family = 0x21 if ip.version == 6 else 0x11
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, family]) + struct.pack(">H", len(addresses)) + addresses


class Recorder(Protocol):
    """
    Records when it was connected, the peer it saw then, and what it got.
    """

    def __init__(self):
        self.peer = None
        self.received = b""
        self.lost = False

    def connectionMade(self):
        self.peer = self.transport.getPeer()

    def dataReceived(self, data):
        self.received += data

    def connectionLost(self, reason):
        self.lost = True


def proxied():
    clock = MemoryReactorClock()
    recorder = Recorder()
    factory = ProxiedFactory(Factory.forProtocol(lambda: recorder), clock=clock)
    protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5555))
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 5555))
    protocol.makeConnection(transport)
    return clock, recorder, protocol, transport


@pytest.mark.parametrize("header", [v1("203.0.113.9"), v2("203.0.113.9")], ids=["v1", "v2"])
def test_starts_after_the_header_with_its_address(header):
    # Fed a byte at a time: the wrapped protocol starts only once the
    # header is whole, and sees the client's address.
    clock, recorder, protocol, transport = proxied()
    for i in range(len(header)):
        assert recorder.peer is None
        protocol.dataReceived(header[i:i + 1])
    assert recorder.peer.host == "203.0.113.9" and recorder.peer.port == 40000
    protocol.dataReceived(b"\x00\x00\x00\x02{}")
    assert recorder.received == b"\x00\x00\x00\x02{}"
    clock.advance(HEADER_TIMEOUT * 2)
    assert not transport.disconnecting


def test_data_after_the_header_in_the_same_segment():
    clock, recorder, protocol, transport = proxied()
    protocol.dataReceived(v2("2001:db8::7") + "你好".encode("utf-8"))
    assert recorder.peer.host == "2001:db8::7"
    assert recorder.received == "你好".encode("utf-8")


def test_no_header_in_time_closes_without_starting():
    clock, recorder, protocol, transport = proxied()
    protocol.dataReceived(b"PROX")
    clock.advance(HEADER_TIMEOUT - 0.1)
    assert not transport.disconnecting
    clock.advance(0.2)
    assert transport.disconnecting and recorder.peer is None
    protocol.connectionLost(None)
    assert not recorder.lost


@pytest.mark.parametrize("data", [b"\x00\x00\x00\x02{}", b"PROXY garbage\r\n", b"GET / HTTP/1.1\r\n\r\n"])
def test_not_a_header_closes_without_starting(data):
    clock, recorder, protocol, transport = proxied()
    protocol.dataReceived(data)
    assert transport.disconnecting and recorder.peer is None
    assert not clock.getDelayedCalls()


class ProxiedTwistd(Twistd):
    """
    C{twistd chatroom} with its main port behind the PROXY protocol and
    tight per-address limits.
    """

    def __init__(self, dataDir, logPath, workers=1):
        super().__init__(dataDir, logPath)
        self.workers = workers

    def start(self):
        args = [
            TWISTD, "-n", "--pidfile=", "chatroom", "--workers", str(self.workers),
            "--port", "haproxy:tcp:%d:interface=127.0.0.1" % (self.port,),
            "--debug-port", "tcp:%d:interface=127.0.0.1" % (self.debugPort,), "--web", "none",
            "--data-dir", self.dataDir, "--hash-cost", "1", "--hash-memory", "8",
            "--max-prelogin-per-address", "2", "--max-per-address", "3",
        ]
        with open(self.logPath, "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.dataDir)

    async def through(self, header):
        """
        A client connected as if through the load balancer: C{header}
        sent first.
        """
        client = await connect(self.port)
        client.sendRaw(header)
        return client

    async def started(self, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError("twistd exited:\n" + self.log())
            try:
                client = await self.through(v1("192.0.2.1"))
                await client.request("ping")
                await client.close()
                if self.workers == 1 or listeners(self.port) == self.workers:
                    return
            except Exception:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("twistd not ready:\n" + self.log())
            await wait(0.2)


async def limitsSeeTheClient(server):
    """
    Clients not logged in from one proxied address: beyond
    --max-prelogin-per-address 2 per process they are refused, while
    another address is not; a failed login is logged with the client's
    address, and the balancer's (127.0.0.1) is never seen.  Each worker
    counts its own connections (limits are per node), so with N workers
    2N + 1 connections are sure to reach one limit.
    """
    header = {"v1": v1, "v2": v2}
    clients = []
    try:
        for version in ("v1", "v2"):
            source = "203.0.113.9" if version == "v1" else "2001:db8::7"
            tries = [await server.through(header[version](source, port=40000 + i))
                     for i in range(2 * server.workers + 1)]
            clients += tries
            # A refused connection may be closed before its ping leaves:
            # wait for each to answer or close, not for every ping.
            for client in tries:
                client.request("ping").addErrback(lambda failure: None)

            def answered(client):
                return any(r["type"] == "ok" for r in client.replies)

            await until(lambda: all(answered(c) or not c.connected for c in tries), timeout=10)
            admitted = [c for c in tries if answered(c)]
            refused = [c for c in tries if not answered(c)]
            assert refused and len(admitted) <= 2 * server.workers
            for client in refused:
                assert client.replies[0]["code"] == "unavailable"
            await until(lambda: not any(c.connected for c in refused), timeout=10)
            other = await server.through(header[version]("198.51.100.%d" % (len(clients),)))
            clients.append(other)
            assert (await other.request("ping"))["type"] == "ok"
            with pytest.raises(WireError):
                await admitted[0].request("login", user="张三", password="错的")
            expected = [
                "chatroom: connection refused from %s: --max-prelogin-per-address 2 reached" % (source,),
                "chatroom: login failed from %s for user '张三'" % (source,),
            ]
            await until(lambda: all(line in server.log() for line in expected), timeout=10)
        with open(server.logPath, encoding="utf-8") as f:
            assert "from 127.0.0.1" not in f.read()
    finally:
        for client in clients:
            if client.connected:
                await client.close()


@pytest_twisted.ensureDeferred
async def test_haproxy_port(tmp_path):
    server = ProxiedTwistd(str(tmp_path), str(tmp_path / "twistd.log"))
    server.start()
    try:
        await server.started()
        await limitsSeeTheClient(server)
        # Loopback, behind a balancer: no clear-text warning.
        assert "without TLS" not in server.log()
    finally:
        server.stop()


@pytest_twisted.ensureDeferred
async def test_haproxy_port_with_workers(tmp_path):
    server = ProxiedTwistd(str(tmp_path), str(tmp_path / "twistd.log"), workers=2)
    server.start()
    try:
        await server.started()
        await limitsSeeTheClient(server)
        assert "[worker " in server.log()
    finally:
        server.stop()


@pytest.mark.parametrize("description, warned", [
    ("tcp:8889", "listens on every interface without TLS"),
    ("tcp:port=8889", "listens on every interface without TLS"),
    ("tcp:8889:interface=0.0.0.0", "listens on 0.0.0.0 without TLS"),
    ("tcp6:8889:interface=\\:\\:", "listens on :: without TLS"),
    ("tcp:8889:interface=192.0.2.10", "listens on 192.0.2.10 without TLS"),
    ("haproxy:tcp:8889:interface=10.0.0.5", "listens on 10.0.0.5 without TLS"),
    ("tcp:8889:interface=127.0.0.1", None),
    ("tcp6:8889:interface=\\:\\:1", None),
    ("haproxy:tcp:8889:interface=127.0.0.1", None),
    ("ssl:8889:privateKey=k.pem:certKey=c.pem", None),
    ("unix:/run/chatroom.sock", None),
])
def test_cleartext_exposure(description, warned):
    assert cleartextExposure(description) == warned


def test_warning_logged_at_start(tmp_path):
    """
    makeService logs the warning for the main port on every interface,
    and none for the debug port on loopback.
    """
    seen = []
    globalLogPublisher.addObserver(seen.append)
    try:
        options = Options()
        options.parseOptions(["--port", "tcp:8889", "--debug-port", "tcp:8890:interface=127.0.0.1",
                              "--redis", "redis://127.0.0.1:1/0", "--data-dir", str(tmp_path / "data")])
        makeService(options, reactor=MemoryReactorClock())
    finally:
        globalLogPublisher.removeObserver(seen.append)
    lines = [formatEvent(e) for e in seen if "without TLS" in formatEvent(e)]
    assert lines == ["--port tcp:8889 listens on every interface without TLS: passwords and messages cross "
                     "the network in clear text; use an ssl: endpoint, or listen on 127.0.0.1 behind a TLS proxy"]
    assert seen[[formatEvent(e) for e in seen].index(lines[0])]["log_level"].name == "warn"
