# -*- test-case-name: tests.test_health -*-
"""
C{--metrics}: the node's HTTP endpoint for Prometheus and for health
checks.

C{/metrics} is the node's L{chatroom.metrics.Metrics} registry (through
C{prometheus_client.twisted.MetricsResource}); C{/healthz} says whether the
process and its Redis link are up, C{/readyz} whether the node accepts
logins (storage prepared, ports listening, Redis up).  Both answer 200 or
503 with a short JSON body.  L{RedisProbe} pings Redis every second, for
the round-trip histogram.
"""

import json
import time

from prometheus_client.twisted import MetricsResource
from twisted.application import strports
from twisted.application.service import Service
from twisted.internet import defer, task
from twisted.web.resource import Resource
from twisted.web.server import Site


class Health:
    """
    What C{/healthz} and C{/readyz} say about a node.
    """

    def __init__(self, node, store, ready, ports):
        """
        @param store: the node's L{IChatStore} (its C{connected}).
        @param ready: the Deferred that fires once storage is prepared
            (L{chatroom.service.ChatService.ready}).
        @param ports: the service of the ports (its C{listening}).
        """
        self.node = node
        self.store = store
        self._prepared = ready
        self.ports = ports

    def redisUp(self):
        """
        Whether the node's Redis link is connected.
        """
        return bool(self.store.connected)

    def ready(self):
        """
        Whether the node accepts logins: storage prepared, ports listening,
        Redis up.
        """
        return self._prepared.called and self.ports.listening and self.redisUp()

    def healthz(self):
        """
        C{(healthy, body)}: the process answers, and its Redis link is up.
        """
        up = self.redisUp()
        return up, {"status": "ok" if up else "unavailable", "node": self.node,
                    "redis": "up" if up else "down"}

    def readyz(self):
        """
        C{(ready, body)}.
        """
        ready = self.ready()
        return ready, {"status": "ready" if ready else "not ready", "node": self.node,
                       "storage": "prepared" if self._prepared.called else "preparing",
                       "ports": "listening" if self.ports.listening else "not listening",
                       "redis": "up" if self.redisUp() else "down"}


class _Status(Resource):
    """
    A health check as HTTP: 200 with its body, or 503.
    """

    isLeaf = True

    def __init__(self, check):
        super().__init__()
        self.check = check

    def render_GET(self, request):
        ok, body = self.check()
        request.setResponseCode(200 if ok else 503)
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"cache-control", b"no-store")
        return json.dumps(body).encode("utf-8") + b"\n"

    render_HEAD = render_GET


class _QuietSite(Site):
    """
    A Site that keeps scrapes and health checks out of the log.
    """

    noisy = False

    def log(self, request):
        pass


def metricsSite(metrics, health):
    """
    The web site of C{--metrics}: C{/metrics}, C{/healthz}, C{/readyz}.
    """
    root = Resource()
    root.putChild(b"metrics", MetricsResource(registry=metrics.registry))
    root.putChild(b"healthz", _Status(health.healthz))
    root.putChild(b"readyz", _Status(health.readyz))
    return _QuietSite(root)


class RedisProbe(Service):
    """
    PINGs Redis every C{interval} seconds and reports the round trip, or
    the failure, to the metrics.  One probe at a time: one still waiting
    after C{timeout} seconds counts as a C{timeout} once.
    """

    def __init__(self, clock, store, metrics, interval=1.0, timeout=1.0, timer=time.perf_counter):
        self.store = store
        self.metrics = metrics
        self.timeout = timeout
        self.timer = timer
        self.interval = interval
        self._loop = task.LoopingCall(self.probe)
        self._loop.clock = clock
        self._sent = None
        self._late = False

    def startService(self):
        super().startService()
        self._loop.start(self.interval, now=False)

    def stopService(self):
        super().stopService()
        if self._loop.running:
            self._loop.stop()

    def probe(self):
        """
        Send one PING, unless the last one is still waiting.
        """
        if self._sent is not None:
            if not self._late and self.timer() - self._sent >= self.timeout:
                self._late = True
                self.metrics.redisFailed("timeout")
            return
        self._sent = self.timer()
        self._late = False
        d = defer.maybeDeferred(self.store.ping)
        d.addCallbacks(self._answered, self._failed)

    def _answered(self, result):
        sent, self._sent = self._sent, None
        if not self._late:
            self.metrics.redisProbed(self.timer() - sent)

    def _failed(self, failure):
        self._sent = None
        if not self._late:
            self.metrics.redisFailed("error")


def serveMetrics(parent, description, metrics, chat, ports, reactor):
    """
    Serve C{--metrics} (C{description}) for the node C{chat} (its
    L{chatroom.service.ChatService}, whose C{ports} listen once it is
    ready), and probe its Redis, under C{parent}, from the start:
    C{/readyz} answers 503 until the node is ready.

    @return: the L{Health} of the node.
    """
    health = Health(chat.node, chat.store, chat.ready, ports)
    metrics.watch(health, chat.relay)
    RedisProbe(reactor, chat.store, metrics).setServiceParent(parent)
    strports.service(description, metricsSite(metrics, health), reactor=reactor).setServiceParent(parent)
    return health
