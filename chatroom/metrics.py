# -*- test-case-name: tests.test_metrics -*-
"""
What a node counts for Prometheus: the metric objects, in a registry of
the node's own, and the small recorders the rest of the server reports
through.

Each part of the server gets its recorder by constructor: the L{Metrics}
when C{--metrics} is given, else L{NO_METRICS}, whose recorders do
nothing.  The recorders of the hot path (a request's outcome, a message's
delivery) hold label children bound once, and the children are plain
numbers (L{chatroom.tallies}), so a message costs a few additions and no
label lookup.  docs/operations.rst ("Metrics and health") lists every
metric.
"""

import time
from functools import partial

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from chatroom.errors import CODES
from chatroom.messages import REQUESTS
from chatroom.tallies import Family, Tallies

#: The ports every node has; another port (a web or WebSocket one) gets its
#: label by asking L{Metrics.port} for it.
PORTS = ("main", "debug")

#: The kinds of stored message.
KINDS = ("direct", "group")

#: The kinds of relay envelope (see L{chatroom.relay}), by their first byte.
RELAY_KINDS = {
    b"m": "direct", b"g": "group", b"e": "group_event", b"p": "presence",
    b"j": "joined", b"l": "left", b"h": "hello", b"f": "group_event_others", b"u": "membership",
    b"x": "group_deleted", b"k": "bye", b"b": "block",
    b"r": "user_event", b"s": "group_signal", b"t": "typing", b"c": "setting",
}

#: The request-type label of a request whose type is not one of the
#: protocol's (so that no client can make up labels), and of one with no
#: type at all (not a JSON object, no C{type} field).
OTHER_TYPE = "other"
NO_TYPE = "none"

#: Request latency buckets, in seconds: from a ping's tens of microseconds
#: to a Redis outage's 5-second timeout (a login spends ~50 ms hashing).
LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

#: Redis round-trip buckets, in seconds.
REDIS_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)

#: Recipients of one message on this node.
BATCH_BUCKETS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


class Metrics:
    """
    The metrics of one node, in their own L{CollectorRegistry}
    (C{registry}; each C{--workers} process has its own).

    @ivar registry: what C{/metrics} shows.
    """

    def __init__(self, node, timer=time.perf_counter, processMetrics=True):
        """
        @param node: this node's id (the C{chatroom_node_info} label).
        @param timer: seconds, for latencies (a test passes a clock's).
        @param processMetrics: whether to add the process's CPU, memory and
            garbage collector metrics (C{process_*}, C{python_*}).
        """
        self.timer = timer
        self.registry = registry = CollectorRegistry()
        if processMetrics:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
        families = []
        counter = partial(Family, families, "counter")
        gauge = partial(Family, families, "gauge")
        histogram = partial(Family, families, "histogram")
        gauge("chatroom_node_info", "This node; always 1.", ["node"]).labels(node).inc()
        self._connections = gauge("chatroom_connections", "Open connections, by port.", ["port"])
        self._sessions = gauge("chatroom_sessions", "Logged-in connections, by port.", ["port"])
        self._slow = counter("chatroom_slow_consumer_closes", "Connections closed for leaving more than "
                             "--max-buffer bytes unread, by port.", ["port"])
        self._logins = counter("chatroom_logins", "Successful logins.").labels()
        self._loginFailures = counter("chatroom_login_failures", "Refused logins: auth_failed (wrong password "
                                      "or unknown user) or rate_limited (the login throttle).", ["reason"])
        self._requests = counter("chatroom_requests", "Requests answered, by type and outcome (ok or the "
                                 "error code).", ["type", "code"])
        self._latency = histogram("chatroom_request_duration_seconds", "Seconds from a request's turn to "
                                  "its reply, by type.", ["type"], buckets=LATENCY_BUCKETS)
        self._stored = counter("chatroom_messages_stored", "Messages stored by requests to this node, by "
                               "kind.", ["kind"])
        self._delivered = counter("chatroom_messages_delivered", "Live copies of messages written to "
                                  "connections of this node, by kind.", ["kind"])
        self._batch = histogram("chatroom_delivery_recipients", "Connections of this node that one message "
                                "(stored here or relayed) reached, by kind.", ["kind"], buckets=BATCH_BUCKETS)
        self._relay = counter("chatroom_relay_messages", "Envelopes between nodes, by direction (in, out) "
                              "and kind.", ["direction", "kind"])
        # Read when scraped, once watch() says from what.
        self._watched = {"redis": None, "ready": None, "nodes": None}
        gauge("chatroom_redis_up", "1 while the node's Redis link is connected.",
              function=lambda: self._read("redis"))
        self._redisLatency = histogram("chatroom_redis_ping_seconds", "Round trip of the health probe's "
                                       "PING to Redis, behind the node's own commands.",
                                       buckets=REDIS_BUCKETS).labels()
        self._redisErrors = counter("chatroom_redis_errors", "Health probes of Redis that failed: error "
                                    "(an error or no connection) or timeout.", ["kind"])
        gauge("chatroom_nodes", "Nodes this node knows of, itself included.", function=lambda: self._read("nodes"))
        gauge("chatroom_ready", "1 while this node accepts logins (what /readyz says).",
              function=lambda: self._read("ready"))
        registry.register(Tallies(families))
        self._ports = {}
        for name in PORTS:
            self.port(name)
        # A request type's series appear with its first request.
        self._requestsByType = _RequestRecorders(self)
        for reason in ("auth_failed", "rate_limited"):
            self._loginFailures.labels(reason)
        for kind in ("error", "timeout"):
            self._redisErrors.labels(kind)
        self._deliveries = {kind: _DeliveryRecorder(self, kind) for kind in KINDS}
        self.relayIn = {key: self._relay.labels("in", kind) for key, kind in RELAY_KINDS.items()}
        self.relayOut = {key: self._relay.labels("out", kind) for key, kind in RELAY_KINDS.items()}

    def _read(self, name):
        read = self._watched[name]
        return 0 if read is None else read()

    # Recorders, asked for once by the parts that report.

    def port(self, name):
        """
        The L{PortRecorder} of the port labelled C{name} (C{main},
        C{debug}, or a new one's, which is added).
        """
        recorder = self._ports.get(name)
        if recorder is None:
            recorder = self._ports[name] = PortRecorder(self, name)
        return recorder

    def requests(self):
        """
        The L{RequestRecorder} of the dispatcher.
        """
        return RequestRecorder(self)

    def delivery(self, kind):
        """
        The L{_DeliveryRecorder} of C{kind} (C{direct} or C{group}).
        """
        return self._deliveries[kind]

    def loggedIn(self):
        """
        A login succeeded.
        """
        self._logins.inc()

    def loginFailed(self, reason):
        """
        A login was refused: C{auth_failed} or C{rate_limited}.
        """
        self._loginFailures.labels(reason).inc()

    # What the health checks see.

    def redisProbed(self, seconds):
        """
        The health probe's PING came back after C{seconds}.
        """
        self._redisLatency.observe(seconds)

    def redisFailed(self, kind):
        """
        The health probe's PING failed: C{error} or C{timeout}.
        """
        self._redisErrors.labels(kind).inc()

    def watch(self, health, relay):
        """
        Read, at each scrape, whether Redis is up and the node ready (from
        C{health}, a L{chatroom.health.Health}) and how many nodes C{relay}
        knows.
        """
        self._watched.update(redis=lambda: 1 if health.redisUp() else 0,
                             ready=lambda: 1 if health.ready() else 0, nodes=lambda: len(relay.nodes))


class PortRecorder:
    """
    The connections and sessions of one port.
    """

    __slots__ = ("connections", "sessions", "slowConsumers")

    def __init__(self, metrics, name):
        self.connections = metrics._connections.labels(name)
        self.sessions = metrics._sessions.labels(name)
        self.slowConsumers = metrics._slow.labels(name)

    def opened(self):
        """
        A connection opened.
        """
        self.connections.inc()

    def loggedIn(self):
        """
        A connection logged in for the first time.
        """
        self.sessions.inc()

    def closed(self, loggedIn):
        """
        A connection closed; C{loggedIn} if it had logged in.
        """
        self.connections.dec()
        if loggedIn:
            self.sessions.dec()

    def slowConsumer(self):
        """
        A connection was closed for not reading.
        """
        self.slowConsumers.inc()


class _RequestRecorder:
    """
    The children of one request type: its C{ok} count, its latency, and its
    error counts by code (bound at the first error of each).
    """

    __slots__ = ("ok", "latency", "_errors", "_labels")

    def __init__(self, metrics, wireType):
        self.ok = metrics._requests.labels(wireType, "ok")
        self.latency = metrics._latency.labels(wireType)
        self._errors = {}
        self._labels = partial(metrics._requests.labels, wireType)

    def error(self, code):
        """
        The counter of the error C{code} (C{internal} for a code that is
        not the protocol's).
        """
        counter = self._errors.get(code)
        if counter is None:
            if code not in CODES:
                return self.error("internal")
            counter = self._errors[code] = self._labels(code)
        return counter


class _RequestRecorders(dict):
    """
    The L{_RequestRecorder} of each request type, by type, made when first
    asked for: the protocol's types, L{OTHER_TYPE} and L{NO_TYPE}.
    """

    def __init__(self, metrics):
        super().__init__()
        self._metrics = metrics

    def __missing__(self, wireType):
        if wireType not in REQUESTS and wireType not in (OTHER_TYPE, NO_TYPE):
            return self[OTHER_TYPE]
        recorder = self[wireType] = _RequestRecorder(self._metrics, wireType)
        return recorder


class RequestRecorder:
    """
    What the dispatcher reports: when a request's turn came, and how it
    ended.
    """

    def __init__(self, metrics):
        self.started = metrics.timer
        self._timer = metrics.timer
        self._byType = metrics._requestsByType

    def _of(self, wireType):
        # A type that is no string (or none) is "none"; an unknown one "other".
        return self._byType[wireType if type(wireType) is str else NO_TYPE]

    def ok(self, wireType, started):
        """
        The request of C{wireType} that started at C{started} succeeded.
        """
        recorder = self._of(wireType)
        recorder.ok.inc()
        recorder.latency.observe(self._timer() - started)

    def failed(self, wireType, code, started):
        """
        The request failed with the error C{code}.
        """
        recorder = self._of(wireType)
        recorder.error(code).inc()
        recorder.latency.observe(self._timer() - started)


class _DeliveryRecorder:
    """
    The messages of one kind: stored, and delivered to how many.
    """

    __slots__ = ("_stored", "_delivered", "_batch")

    def __init__(self, metrics, kind):
        self._stored = metrics._stored.labels(kind)
        self._delivered = metrics._delivered.labels(kind)
        self._batch = metrics._batch.labels(kind)

    def stored(self):
        """
        A message of this kind was stored by a request to this node.
        """
        self._stored.inc()

    def delivered(self, count):
        """
        A message reached C{count} connections of this node.
        """
        if count:
            self._delivered.inc(count)
        self._batch.observe(count)


class _Nothing:
    """
    A recorder that records nothing: what every part gets without
    C{--metrics}.
    """

    __slots__ = ()

    def started(self):
        return 0

    def _nothing(self, *args):
        pass

    opened = loggedIn = closed = slowConsumer = ok = failed = stored = delivered = _nothing
    loginFailed = redisProbed = redisFailed = watch = _nothing


class _NoCounter:
    __slots__ = ()

    def inc(self, amount=1):
        pass


class _RelayNothing(dict):
    # Every envelope kind maps to a counter that counts nothing.
    def __missing__(self, key):
        return _NO_COUNTER


_NO_COUNTER = _NoCounter()


class NoMetrics(_Nothing):
    """
    The L{Metrics} of a node without C{--metrics}: every recorder is
    L{_Nothing}.
    """

    __slots__ = ()

    registry = None
    relayIn = relayOut = _RelayNothing()

    def port(self, name):
        return _NOTHING

    def requests(self):
        return _NOTHING

    def delivery(self, kind):
        return _NOTHING


_NOTHING = _Nothing()

#: The metrics of a node without C{--metrics}.
NO_METRICS = NoMetrics()
