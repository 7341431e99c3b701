"""
Tests for L{chatroom.tap}: the options of C{twistd chatroom} and the
service they make.
"""

import os
import socket

import pytest
from twisted.application.internet import StreamServerEndpointService
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock
from twisted.python import usage

from chatroom.service import ChatService
from chatroom.services import StartedWhenReady
from chatroom.tap import Options, makeService

from tests.support.fakes import FakeReactor


def parse(*args):
    options = Options()
    options.parseOptions(list(args))
    return options


def ports(top):
    """
    The port services of C{top}: those started once storage is ready.
    """
    waiting = [s for s in top if isinstance(s, StartedWhenReady)]
    assert len(waiting) == 1
    return [s for s in waiting[0] if isinstance(s, StreamServerEndpointService)]


def test_defaults():
    """
    With no options: the ports of PROTOCOL.md, an embedded Redis in
    ./chatroom-data, the default limits and hash cost.
    """
    options = parse()
    assert options["port"] == "tcp:8889"
    assert options["debug-port"] == "tcp:8890:interface=127.0.0.1"
    assert options["web"] == "tcp:8080:interface=127.0.0.1"
    assert options["web-origin"] is None
    assert options["redis"] is None
    assert options["data-dir"] == os.path.abspath("chatroom-data")
    assert options["appendfsync"] == "everysec"
    assert options["max-frame"] == 65536
    assert options["hash-cost"] == 2
    assert options["hash-memory"] == 19456
    assert options["retention"] == 100_000
    assert options["presence-max-group"] == 500
    assert options["node-id"] == socket.gethostname() + "-tcp-8889"


def test_goodValues(tmp_path):
    """
    Every option takes its documented form.
    """
    options = parse(
        "--port", "tcp:9000:interface=127.0.0.1", "--debug-port", "none",
        "--data-dir", str(tmp_path), "--appendfsync", "always", "--max-frame", "1024",
        "--hash-cost", "3", "--hash-memory", "65536", "--retention", "500",
        "--presence-max-group", "0", "--node-id", "node-1.a_b",
    )
    assert options["port"] == "tcp:9000:interface=127.0.0.1"
    assert options["debug-port"] is None
    assert options["data-dir"] == str(tmp_path)
    assert options["appendfsync"] == "always"
    assert (options["max-frame"], options["hash-cost"], options["hash-memory"]) == (1024, 3, 65536)
    assert (options["retention"], options["presence-max-group"]) == (500, 0)
    assert options["node-id"] == "node-1.a_b"


def test_sslEndpointChecked(tmp_path):
    """
    The ports are endpoint strings, so TLS is a matter of configuration;
    a missing key file is reported at once.
    """
    missing = str(tmp_path / "key.pem")
    with pytest.raises(usage.UsageError) as info:
        parse("--port", "ssl:8443:privateKey=%s" % (missing,))
    assert "--port" in str(info.value)
    assert missing in str(info.value)


@pytest.mark.parametrize("url, expected", [
    ("redis://localhost", {"host": "localhost", "port": 6379, "db": 0, "password": None}),
    ("redis://127.0.0.1:6380/3", {"host": "127.0.0.1", "port": 6380, "db": 3, "password": None}),
    ("redis://:s%40cret@db.example:7000/1", {"host": "db.example", "port": 7000, "db": 1, "password": "s@cret"}),
    ("unix:///tmp/redis.sock", {"path": "/tmp/redis.sock", "db": 0, "password": None}),
    ("unix:///tmp/redis.sock?db=2", {"path": "/tmp/redis.sock", "db": 2, "password": None}),
    ("redis-cluster://10.0.0.1:7000", {"cluster": [("10.0.0.1", 7000)], "password": None}),
    ("redis-cluster://:s%40cret@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002,redis.example/",
     {"cluster": [("10.0.0.1", 7000), ("10.0.0.2", 7001), ("::1", 7002), ("redis.example", 6379)],
      "password": "s@cret"}),
    ("redis-cluster://节点.example:7000/0", {"cluster": [("节点.example", 7000)], "password": None}),
])
def test_redisURL(url, expected):
    """
    C{--redis} takes a C{redis://}, C{unix://} or C{redis-cluster://} URL.
    """
    assert parse("--redis", url)["redis"] == expected


@pytest.mark.parametrize("args, words", [
    (["--port", "nonsense:1"], ["--port", "nonsense"]),
    (["--port", "tcp:notaport"], ["--port"]),
    (["--port", ""], ["--port"]),
    (["--debug-port", "tcp"], ["--debug-port"]),
    (["--web", "tcp:port"], ["--web"]),
    (["--web", "nonsense:1"], ["--web", "nonsense"]),
    (["--web-origin", "chat.example.org"], ["--web-origin", "scheme://host"]),
    (["--web-origin", "javascript:alert(1)"], ["--web-origin"]),
    (["--web-origin", "https://chat.example.org/path"], ["--web-origin"]),
    (["--workers", "2", "--web", "unix:/tmp/chatroom-web.sock"], ["--web", "tcp:"]),
    (["--redis", "http://localhost"], ["--redis"]),
    (["--redis", "redis://"], ["--redis", "host"]),
    (["--redis", "redis://localhost/zero"], ["--redis", "database"]),
    (["--redis", "unix://"], ["--redis", "path"]),
    (["--redis", "unix:///tmp/r.sock?db=x"], ["--redis", "database"]),
    (["--redis", "localhost:6379"], ["--redis"]),
    (["--redis", "redis://localhost:99999"], ["--redis"]),
    (["--redis", "redis://localhost:port"], ["--redis"]),
    (["--redis", "redis-cluster://"], ["--redis", "Redis Cluster address"]),
    (["--redis", "redis-cluster://h:7000,"], ["--redis", "Redis Cluster address"]),
    (["--redis", "redis-cluster://h:7000,:7001"], ["--redis", "Redis Cluster address"]),
    (["--redis", "redis-cluster://h:port"], ["--redis", "Redis Cluster address"]),
    (["--redis", "redis-cluster://h:70000"], ["--redis", "Redis Cluster address"]),
    (["--redis", "redis-cluster://h:7000/1"], ["--redis", "database 0"]),
    (["--redis", "redis-cluster://h:7000?db=1"], ["--redis", "database 0"]),
    (["--max-frame", "big"], ["--max-frame", "whole number"]),
    (["--max-frame", "100"], ["--max-frame", "1024"]),
    (["--max-frame", "-1"], ["--max-frame"]),
    (["--max-frame", "99999999999"], ["--max-frame"]),
    (["--hash-cost", "0"], ["--hash-cost"]),
    (["--hash-cost", "1.5"], ["--hash-cost"]),
    (["--hash-memory", "1"], ["--hash-memory"]),
    (["--retention", "10"], ["--retention"]),
    (["--presence-max-group", "-5"], ["--presence-max-group"]),
    (["--appendfsync", "no"], ["--appendfsync", "always", "everysec"]),
    (["--appendfsync", ""], ["--appendfsync"]),
    (["--node-id", "has space"], ["--node-id"]),
    (["--node-id", "a:b"], ["--node-id"]),
    (["--node-id", ""], ["--node-id"]),
    (["--node-id", "n" * 65], ["--node-id"]),
    (["--node-id", "节点"], ["--node-id"]),
    (["--no-such-option"], ["no-such-option"]),
    (["extra"], []),
])
def test_badValues(args, words):
    """
    A bad value is a L{usage.UsageError} whose message names the option.
    """
    with pytest.raises(usage.UsageError) as info:
        parse(*args)
    for word in words:
        assert word in str(info.value)


def test_makeServiceEmbedded(tmp_path):
    """
    Without --redis, the service has an embedded Redis child, a Redis
    link, the chat service and the three ports, on the given reactor.
    """
    reactor = FakeReactor()
    options = parse("--data-dir", str(tmp_path), "--port", "tcp:0", "--debug-port", "tcp:0:interface=127.0.0.1",
                    "--web", "tcp:0:interface=127.0.0.1")
    top = makeService(options, reactor=reactor)
    names = [type(s).__name__ for s in top]
    # The embedded Redis starts first (and so stops last).
    assert names[0] == "EmbeddedRedis"
    assert len(ports(top)) == 3
    chat = [s for s in top if isinstance(s, ChatService)][0]
    assert chat.store.link.address.startswith("unix:" + str(tmp_path))
    assert {s.factory.maxFrame for s in ports(top)} == {65536}
    assert chat.presence.maxGroup == 500


def test_makeServiceExternal(tmp_path):
    """
    With --redis no child is started, and --debug-port none and --web none
    have no port.
    """
    reactor = FakeReactor()
    options = parse("--redis", "redis://127.0.0.1:6390/2", "--debug-port", "none", "--web", "none",
                    "--data-dir", str(tmp_path), "--max-frame", "2048")
    top = makeService(options, reactor=reactor)
    names = [type(s).__name__ for s in top]
    assert "EmbeddedRedis" not in names
    assert len(ports(top)) == 1
    chat = [s for s in top if isinstance(s, ChatService)][0]
    assert [s.factory.maxFrame for s in ports(top)] == [2048]
    assert chat.store.link.address == "127.0.0.1:6390"


def test_makeServiceCluster(tmp_path):
    """
    With a C{redis-cluster://} URL the store routes commands over the
    cluster and relays with sharded pub/sub.
    """
    from chatroom.store.pubsub import ShardedPubSub
    from chatroom.store.routing import ClusterLink

    reactor = FakeReactor()
    options = parse("--redis", "redis-cluster://:pw@127.0.0.1:7000,127.0.0.1:7001", "--debug-port", "none",
                    "--data-dir", str(tmp_path))
    top = makeService(options, reactor=reactor)
    assert "EmbeddedRedis" not in [type(s).__name__ for s in top]
    store = [s for s in top if isinstance(s, ChatService)][0].store
    assert isinstance(store.link, ClusterLink) and isinstance(store.pubsub, ShardedPubSub)
    assert (store.link.seeds, store.link.password) == ([("127.0.0.1", 7000), ("127.0.0.1", 7001)], "pw")
    assert store.link.address == "127.0.0.1:7000,127.0.0.1:7001"


def test_passwordHashingHasOneThreadPerCore(tmp_path):
    """
    Password hashes run in their own pool of one thread per core, not the
    reactor's ten: each hashing thread keeps its argon2 memory (19 MiB).
    """
    import os


    from chatroom.passwords import HashingThreads

    options = Options()
    options.parseOptions(["--data-dir", str(tmp_path)])
    service = makeService(options, reactor=MemoryReactorClock())
    threads = [s for s in service if isinstance(s, HashingThreads)]
    assert len(threads) == 1
    assert threads[0].pool.max == (os.cpu_count() or 1)


# The ports listen once storage is ready.

def test_webPort(tmp_path):
    """
    C{--web} makes the web port's site, with the frame limit and the
    C{--web-origin}s (repeatable); with C{--reuse-port} it is shared like
    the others.
    """
    from chatroom.web.site import WebSite
    from chatroom.workers import SharedPortService

    options = parse("--redis", "redis://127.0.0.1:6390/2", "--web", "tcp:0:interface=127.0.0.1", "--max-frame", "4096",
                    "--web-origin", "https://chat.example.org", "--web-origin", "http://localhost:3000/")
    assert options["web-origin"] == ["https://chat.example.org", "http://localhost:3000"]
    [site] = [s.factory for s in ports(makeService(options, reactor=FakeReactor())) if isinstance(s.factory, WebSite)]
    assert site.maxFrame == 4096 and site.webSocketFactory.maxFrame == 4096
    assert site.webSocketFactory.origins.allowed == {"https://chat.example.org", "http://localhost:3000"}

    options = parse("--redis", "redis://127.0.0.1:6390/2", "--web", "tcp:8081:interface=127.0.0.1", "--reuse-port")
    top = makeService(options, reactor=FakeReactor())
    shared = [s for s in [s for s in top if isinstance(s, StartedWhenReady)][0] if isinstance(s, SharedPortService)]
    assert [s.port for s in shared if isinstance(s.factory, WebSite)] == [8081]


def test_portsWaitForStorage(tmp_path):
    """
    makeService puts the ports in a L{StartedWhenReady} on the chat
    service's C{ready}, after the chat service (so they close before it
    stops) and before the manhole.
    """
    options = parse("--data-dir", str(tmp_path), "--port", "tcp:0", "--debug-port", "tcp:0:interface=127.0.0.1")
    top = list(makeService(options, reactor=FakeReactor()))
    chat = [s for s in top if isinstance(s, ChatService)][0]
    waiting = [s for s in top if isinstance(s, StartedWhenReady)][0]
    assert waiting._ready is chat.ready
    assert top.index(chat) < top.index(waiting)
    assert not any(isinstance(s, StreamServerEndpointService) for s in top)


def test_metricsListenAtOnce(tmp_path):
    """
    With C{--metrics}, the node reports to a L{Metrics} and its metrics
    port listens from the start (so C{/readyz} can say it is not ready),
    with the Redis probe; without it, to L{NO_METRICS}.
    """
    from chatroom.health import RedisProbe
    from chatroom.metrics import NO_METRICS, Metrics

    options = parse("--data-dir", str(tmp_path), "--port", "tcp:0", "--debug-port", "none",
                    "--metrics", "tcp:9100:interface=127.0.0.1")
    reactor = FakeReactor()
    top = makeService(options, reactor=reactor)
    chat = [s for s in top if isinstance(s, ChatService)][0]
    assert isinstance(chat.sessions.metrics, Metrics)
    served = [s for s in top if isinstance(s, StreamServerEndpointService)]
    assert len(served) == 1 and [type(s) for s in top].count(RedisProbe) == 1
    served[0].privilegedStartService()
    assert [(port, interface) for port, _, _, interface in reactor.tcpServers] == [(9100, "127.0.0.1")]

    top = makeService(parse("--data-dir", str(tmp_path)), reactor=FakeReactor())
    chat = [s for s in top if isinstance(s, ChatService)][0]
    assert chat.sessions.metrics is NO_METRICS
    assert not any(isinstance(s, (StreamServerEndpointService, RedisProbe)) for s in top)


def waitingPorts(ready):
    reactor = MemoryReactorClock()
    service = StartedWhenReady(ready, reactor)
    from twisted.application import strports
    from twisted.internet.protocol import Factory

    for _ in range(2):
        strports.service("tcp:0:interface=127.0.0.1", Factory(), reactor=reactor).setServiceParent(service)
    return service, reactor


def test_startedWhenReady():
    """
    Started (the privileged phase included), the ports do not listen until
    C{ready} fires; then they do, and C{ready}'s result goes on unchanged.
    Stopped, they stop listening.
    """
    ready = defer.Deferred()
    service, reactor = waitingPorts(ready)
    service.privilegedStartService()
    service.startService()
    assert reactor.tcpServers == []
    assert not service.listening
    ready.callback("the chat service")
    assert len(reactor.tcpServers) == 2
    assert all(child.running for child in service)
    assert service.listening
    assert ready.result == "the chat service"
    service.stopService()
    assert not any(child.running for child in service)
    assert not service.listening


def test_startedWhenAlreadyReady():
    service, reactor = waitingPorts(defer.succeed(None))
    service.startService()
    assert len(reactor.tcpServers) == 2


def test_stoppedBeforeReady():
    """
    Stopped before storage is ready, the ports never listen, even when it
    becomes ready later.
    """
    ready = defer.Deferred()
    service, reactor = waitingPorts(ready)
    service.startService()
    assert service.stopService() is None
    ready.callback(None)
    assert reactor.tcpServers == []
    assert not any(child.running for child in service)


def test_cannotListenStopsTheServer():
    """
    A port that cannot listen when storage is ready stops the server (as
    it would have failed at start before), with the reason logged.
    """
    from twisted.internet.testing import EventLoggingObserver
    from twisted.logger import globalLogPublisher

    ready = defer.Deferred()
    service, reactor = waitingPorts(ready)
    stopped = []
    reactor.stop = lambda: stopped.append(True)

    def refuse(*args, **kwargs):
        raise OSError("address in use")

    reactor.listenTCP = refuse
    events = EventLoggingObserver()
    globalLogPublisher.addObserver(events)
    try:
        service.startService()
        ready.callback(None)
    finally:
        globalLogPublisher.removeObserver(events)
    assert stopped == [True]
    assert any("Cannot listen" in e.get("log_format", "") for e in events)
