"""
Tests for L{chatroom.metrics} and L{chatroom.health} on a fake clock: what
each recorder counts, the latency it measures, the Redis probe, the
health checks, and L{NO_METRICS} standing in for every recorder.
"""

import inspect
import json

from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.web.test.requesthelper import DummyRequest

from chatroom import errors
from chatroom.delivery import Delivery
from chatroom.dispatch import Dispatcher, handles
from chatroom.health import Health, RedisProbe, metricsSite
from chatroom.messages import Ping, Send
from chatroom.metrics import NO_METRICS, Metrics, PortRecorder, RequestRecorder, _DeliveryRecorder
from chatroom.registry import PresenceRegistry
from chatroom.relay import Relay

from tests.support.fakes import UnitNode, connectFrames, connectLines, frame, readFrames


class Nodes:
    """
    An L{INodeStore} that keeps what is published.
    """

    def __init__(self):
        self.published = []

    def listen(self, receiver):
        pass

    onListening = listen

    def publishToNode(self, node, envelope):
        self.published.append(envelope)

    def publishToGroup(self, group, envelope):
        self.published.append(envelope)


def newMetrics(clock):
    return Metrics("节点-1", timer=clock.seconds, processMetrics=False)


def sample(metrics, name, **labels):
    return metrics.registry.get_sample_value(name, labels)


class FakeSession:
    def __init__(self, user="小明"):
        self.user = user
        self.sent = []

    def close(self):
        pass

    def sendPayload(self, payload):
        self.sent.append(payload)


class SlowHandler:
    """
    C{send} waits for C{self.waiting}; C{ping} fails as a handler bug would.
    """

    def __init__(self):
        self.waiting = defer.Deferred()

    @handles(Send)
    async def send(self, session, request):
        await self.waiting
        return {"msg_id": "1-0"}

    @handles(Ping)
    def ping(self, session, request):
        raise errors.Unavailable()


def test_requestLatencyAndOutcomeByType():
    """
    A request's latency is measured from its dispatch to its reply on the
    metrics' timer, and counted under its type and outcome; errors count
    under their code.
    """
    clock = MemoryReactorClock()
    metrics = newMetrics(clock)
    handler = SlowHandler()
    dispatcher = Dispatcher(metrics=metrics)
    dispatcher.addHandler(handler)
    session = FakeSession()

    d = dispatcher.dispatch(session, {"type": "send", "to": "小红", "text": "你好 👋"})
    clock.advance(0.3)
    handler.waiting.callback(None)
    assert json.loads(d.result)["type"] == "ok"
    assert sample(metrics, "chatroom_requests_total", type="send", code="ok") == 1
    assert sample(metrics, "chatroom_request_duration_seconds_count", type="send") == 1
    assert sample(metrics, "chatroom_request_duration_seconds_sum", type="send") == 0.3
    assert sample(metrics, "chatroom_request_duration_seconds_bucket", type="send", le="0.25") == 0
    assert sample(metrics, "chatroom_request_duration_seconds_bucket", type="send", le="0.5") == 1

    dispatcher.dispatch(session, {"type": "ping"})
    dispatcher.dispatch(session, {"type": "send", "to": "小红"})
    assert sample(metrics, "chatroom_requests_total", type="ping", code="unavailable") == 1
    assert sample(metrics, "chatroom_requests_total", type="send", code="bad_request") == 1
    assert sample(metrics, "chatroom_request_duration_seconds_bucket", type="ping", le="0.0002") == 1


def test_clientsCannotMakeUpLabels():
    """
    Types that are not the protocol's count as C{other}, a missing or
    non-string type as C{none}: a client cannot add series.
    """
    clock = MemoryReactorClock()
    metrics = newMetrics(clock)
    dispatcher = Dispatcher(metrics=metrics)
    session = FakeSession()
    for wireType in ("发送", "x" * 100, "other"):
        dispatcher.dispatch(session, {"type": wireType})
    for obj in ({"type": ["send"]}, {"type": {"a": 1}}, {}, ["send"], "send"):
        dispatcher.dispatch(session, obj)
    assert sample(metrics, "chatroom_requests_total", type="other", code="unknown_type") == 3
    assert sample(metrics, "chatroom_requests_total", type="none", code="bad_request") == 5
    types = {s.labels["type"] for m in metrics.registry.collect() if m.name == "chatroom_requests"
             for s in m.samples}
    assert types == {"other", "none"}


def test_portsCountConnectionsAndSessions():
    """
    Connections and logged-in sessions are counted by port; a connection
    closed for not reading counts as a slow consumer of its port.
    """
    clock = MemoryReactorClock()
    metrics = newMetrics(clock)
    node = UnitNode(reactor=clock, metrics=metrics, limits=None)
    main, mainTransport = connectFrames(node)
    debug, _ = connectLines(node)
    assert sample(metrics, "chatroom_connections", port="main") == 1
    assert sample(metrics, "chatroom_connections", port="debug") == 1
    assert sample(metrics, "chatroom_sessions", port="main") == 0

    main.session.user = "小明"
    main.session.markLoggedIn()
    assert sample(metrics, "chatroom_sessions", port="main") == 1
    main.session.markLoggedIn()
    assert sample(metrics, "chatroom_sessions", port="main") == 1

    main.dataReceived(frame({"type": "ping", "id": 1}))
    assert readFrames(mainTransport)[0]["type"] == "ok"
    main.connectionLost(Failure(Exception("gone")))
    debug.connectionLost(Failure(Exception("gone")))
    assert sample(metrics, "chatroom_connections", port="main") == 0
    assert sample(metrics, "chatroom_sessions", port="main") == 0
    assert sample(metrics, "chatroom_connections", port="debug") == 0

    # A port of a new kind gets its label by asking for it.
    web = metrics.port("web")
    web.opened()
    web.slowConsumer()
    assert sample(metrics, "chatroom_connections", port="web") == 1
    assert sample(metrics, "chatroom_slow_consumer_closes_total", port="web") == 1


def test_deliveryCountsStoredAndRecipients():
    """
    A stored message counts once as stored, and as delivered to as many
    connections of this node as it was written to (the sender's own
    excluded); a relayed one only as delivered.
    """
    clock = MemoryReactorClock()
    metrics = newMetrics(clock)
    registry = PresenceRegistry()

    class Relayed:
        def direct(self, *args):
            pass

        group = direct

    delivery = Delivery(registry, Relayed(), metrics)
    sender = FakeSession("小明")
    registry.add(sender, {"大厅": 10})
    for name in ("小红", "小刚", "小刚"):
        registry.add(FakeSession(name), {"大厅": 10})

    delivery.group("大厅", "小明", "大家好 🎉", "1800000000000-0", exclude=sender)
    delivery.direct("小明", "小红", "你好", "1800000000001-0", ["here"], exclude=sender)
    delivery.relayedDirect("没人", "也没人", "1800000000002-0", b"{}")
    assert sample(metrics, "chatroom_messages_stored_total", kind="group") == 1
    assert sample(metrics, "chatroom_messages_stored_total", kind="direct") == 1
    assert sample(metrics, "chatroom_messages_delivered_total", kind="group") == 3
    assert sample(metrics, "chatroom_messages_delivered_total", kind="direct") == 1
    assert sample(metrics, "chatroom_delivery_recipients_bucket", kind="group", le="2.0") == 0
    assert sample(metrics, "chatroom_delivery_recipients_bucket", kind="group", le="5.0") == 1
    # The relayed direct message found nobody here.
    assert sample(metrics, "chatroom_delivery_recipients_bucket", kind="direct", le="0.0") == 1
    assert sample(metrics, "chatroom_delivery_recipients_count", kind="direct") == 2


def test_relayCountsEnvelopesInAndOut():
    """
    Envelopes are counted by direction and kind; one from this node itself
    or of an unknown kind is not.
    """
    clock = MemoryReactorClock()
    metrics = newMetrics(clock)

    class Nowhere:
        def relayedGroup(self, *args):
            pass

    relay = Relay(Nodes(), "甲", PresenceRegistry(), metrics)
    relay.attach(Nowhere(), None)
    relay.nodes = {"甲", "乙"}
    relay.direct(["甲", "乙", "丙"], "小红", "小明", "1-0", b"{}")
    relay.group("大厅", "2-0", b"{}")
    relay.received(b"\x1f".join([b"g", "乙".encode(), "大厅".encode(), b"3-0", b"{}"]))
    relay.received(b"\x1f".join([b"g", "甲".encode(), "大厅".encode(), b"4-0", b"{}"]))
    relay.received(b"\x1f".join([b"?", "乙".encode(), b"x"]))
    assert sample(metrics, "chatroom_relay_messages_total", direction="out", kind="direct") == 2
    assert sample(metrics, "chatroom_relay_messages_total", direction="out", kind="group") == 1
    assert sample(metrics, "chatroom_relay_messages_total", direction="in", kind="group") == 1
    assert sample(metrics, "chatroom_relay_messages_total", direction="in", kind="direct") == 0


class ProbedStore:
    def __init__(self):
        self.pings = []
        self.connected = True

    def ping(self):
        d = defer.Deferred()
        self.pings.append(d)
        return d


def test_redisProbe():
    """
    The probe PINGs once a second, one at a time: it reports the round
    trip, a failure as C{error}, and a PING unanswered after its timeout
    once as C{timeout} (not again as an error when it fails later).
    """
    clock = MemoryReactorClock()
    metrics = newMetrics(clock)
    store = ProbedStore()
    probe = RedisProbe(clock, store, metrics, timer=clock.seconds)
    probe.startService()
    assert store.pings == []
    clock.advance(1)
    clock.advance(0.004)
    store.pings[0].callback(b"PONG")
    assert sample(metrics, "chatroom_redis_ping_seconds_count") == 1
    assert abs(sample(metrics, "chatroom_redis_ping_seconds_sum") - 0.004) < 1e-9
    assert sample(metrics, "chatroom_redis_ping_seconds_bucket", le="0.0025") == 0
    assert sample(metrics, "chatroom_redis_ping_seconds_bucket", le="0.005") == 1

    clock.advance(1)
    store.pings[1].errback(errors.Unavailable())
    assert sample(metrics, "chatroom_redis_errors_total", kind="error") == 1

    clock.advance(1)
    for _ in range(5):
        clock.advance(1)
    assert len(store.pings) == 3
    assert sample(metrics, "chatroom_redis_errors_total", kind="timeout") == 1
    store.pings[2].errback(errors.Unavailable())
    assert sample(metrics, "chatroom_redis_errors_total", kind="error") == 1
    clock.advance(1)
    assert len(store.pings) == 4
    probe.stopService()
    clock.advance(5)
    assert len(store.pings) == 4


class Ports:
    listening = False


def render(resource):
    request = DummyRequest([b""])
    body = resource.render(request)
    return request.responseCode or 200, json.loads(body)


def test_healthAndReadiness():
    """
    C{/healthz} follows the Redis link; C{/readyz} needs storage prepared,
    the ports listening and Redis up; each says why in its body.
    """
    clock = MemoryReactorClock()
    metrics = newMetrics(clock)
    store, ready, ports = ProbedStore(), defer.Deferred(), Ports()
    health = Health("节点-1", store, ready, ports)
    metrics.watch(health, type("Relay", (), {"nodes": {"节点-1", "节点-2"}})())
    site = metricsSite(metrics, health)
    healthz = site.resource.getStaticEntity(b"healthz")
    readyz = site.resource.getStaticEntity(b"readyz")

    assert render(healthz) == (200, {"status": "ok", "node": "节点-1", "redis": "up"})
    code, body = render(readyz)
    assert code == 503
    assert body["storage"] == "preparing" and body["ports"] == "not listening"
    assert sample(metrics, "chatroom_ready") == 0

    ready.callback(None)
    ports.listening = True
    assert render(readyz)[0] == 200
    assert sample(metrics, "chatroom_ready") == 1
    assert sample(metrics, "chatroom_nodes") == 2

    store.connected = False
    assert render(healthz)[0] == 503
    code, body = render(readyz)
    assert (code, body["redis"], body["status"]) == (503, "down", "not ready")
    assert sample(metrics, "chatroom_redis_up") == 0


def test_noMetricsStandsInForEveryRecorder():
    """
    L{NO_METRICS} and its recorders have every method the real ones have,
    and calling them records nothing anywhere.
    """
    pairs = [
        (Metrics, NO_METRICS),
        (PortRecorder, NO_METRICS.port("main")),
        (RequestRecorder, NO_METRICS.requests()),
        (_DeliveryRecorder, NO_METRICS.delivery("direct")),
    ]
    for real, stand in pairs:
        for name, member in inspect.getmembers(real, inspect.isfunction):
            if not name.startswith("_"):
                assert callable(getattr(stand, name)), (real, name)
    assert NO_METRICS.relayIn[b"m"].inc() is None
    assert NO_METRICS.requests().started() == 0
    assert NO_METRICS.registry is None


def test_everyRelayEnvelopeHasALabel():
    """
    Every kind of envelope the relay handles is counted under a label of
    its own: one without a label would fail its count as it arrives.
    """
    from chatroom.metrics import RELAY_KINDS

    relay = Relay(Nodes(), "n1", PresenceRegistry(), newMetrics(MemoryReactorClock()))
    assert set(relay._handlers) <= set(RELAY_KINDS)
    assert len(set(RELAY_KINDS.values())) == len(RELAY_KINDS)
