"""
C{twistd chatroom --metrics}: a real server's C{/metrics} as Prometheus
scrapes it, after real traffic, and its C{/healthz} and C{/readyz} before
it is ready, while it serves and while its Redis is gone; with
C{--workers}, each worker's own.
"""

import os
import signal
import urllib.error
import urllib.request

import pytest_twisted
from prometheus_client.parser import text_string_to_metric_families

from tests.support.lines import connectLines
from tests.support.servers import RedisProcess
from tests.support.twistd import Twistd, freePort, killRedisOf, listeners, redisServersOf
from tests.support.wire import WireError, until, wait
from tests.test_workers import WorkersTwistd


def get(port, path):
    """
    C{(status, body)} of an HTTP GET on 127.0.0.1:C{port}; C{(None, None)}
    if nothing listens.
    """
    if not listeners(port):
        # Not even tried: connecting to a free port of the ephemeral range
        # can connect the socket to itself (and read back the request).
        return None, None
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8")
    except urllib.error.URLError:
        return None, None


def scrape(port):
    """
    The samples of C{/metrics}, as Prometheus parses them: C{{(name,
    ((label, value), ...)): value}}.
    """
    status, text = get(port, "/metrics")
    assert status == 200, text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def status(port, path):
    return get(port, path)[0]


@pytest_twisted.ensureDeferred
async def test_metrics_follow_real_traffic(tmp_path):
    """
    After register, login, send, group.send, a failed login and bad
    requests, the counters and histograms moved by what happened; the
    gauges of connections and sessions follow the clients, by port; and
    with its embedded Redis killed the node is neither healthy nor ready.
    """
    metricsPort = freePort()
    server = Twistd(str(tmp_path), str(tmp_path / "twistd.log"),
                    ["--metrics", "tcp:%d:interface=127.0.0.1" % (metricsPort,)])
    server.start()
    clients = []
    try:
        alice = await server.ready("小明")
        clients.append(alice)
        bob = await server.ready("小红")
        clients.append(bob)
        assert status(metricsPort, "/healthz") == 200
        assert status(metricsPort, "/readyz") == 200

        reply = await alice.request("send", to="小红", text="你好 👋")
        await bob.event(type="message", msg_id=reply["msg_id"])
        reply = await alice.request("group.send", group="lobby", text="大家好 🎉")
        await bob.event(type="message", msg_id=reply["msg_id"])
        for request in ({"type": "发送"}, {"type": "send", "to": "小红"}, ["not", "an", "object"]):
            alice.sendObject(request)
        try:
            await bob.request("login", user="小明", password="错的密码")
        except WireError as e:
            assert e.code == "auth_failed"
        else:
            raise AssertionError("a wrong password logged in")
        await alice.request("ping")
        debug = await connectLines(server.debugPort)
        clients.append(debug)
        await debug.request("ping")
        # At least one probe of Redis (one a second).
        await wait(1.2)

        samples = scrape(metricsPort)
        assert value(samples, "chatroom_requests_total", type="send", code="ok") == 1
        assert value(samples, "chatroom_requests_total", type="group.send", code="ok") == 1
        assert value(samples, "chatroom_requests_total", type="other", code="unknown_type") == 1
        assert value(samples, "chatroom_requests_total", type="send", code="bad_request") == 1
        assert value(samples, "chatroom_requests_total", type="none", code="bad_request") == 1
        assert value(samples, "chatroom_requests_total", type="login", code="auth_failed") == 1
        assert value(samples, "chatroom_requests_total", type="ping", code="ok") == 2
        assert value(samples, "chatroom_logins_total") == 2
        assert value(samples, "chatroom_login_failures_total", reason="auth_failed") == 1
        assert value(samples, "chatroom_login_failures_total", reason="rate_limited") == 0

        # The histogram of send latency: the send and the bad one, positive,
        # in every bucket from their own up to +Inf.
        assert value(samples, "chatroom_request_duration_seconds_count", type="send") == 2
        assert 0 < value(samples, "chatroom_request_duration_seconds_sum", type="send") < 5
        assert value(samples, "chatroom_request_duration_seconds_bucket", type="send", le="+Inf") == 2
        assert value(samples, "chatroom_request_duration_seconds_bucket", type="send", le="10.0") == 2
        assert value(samples, "chatroom_request_duration_seconds_bucket", type="send", le="0.0002") <= 2
        # Two logins hashed a password (and one failed to).
        assert value(samples, "chatroom_request_duration_seconds_count", type="login") == 3

        assert value(samples, "chatroom_messages_stored_total", kind="direct") == 1
        assert value(samples, "chatroom_messages_stored_total", kind="group") == 1
        assert value(samples, "chatroom_messages_delivered_total", kind="direct") == 1
        assert value(samples, "chatroom_messages_delivered_total", kind="group") == 1
        assert value(samples, "chatroom_delivery_recipients_count", kind="group") == 1
        assert value(samples, "chatroom_delivery_recipients_bucket", kind="group", le="0.0") == 0
        assert value(samples, "chatroom_delivery_recipients_bucket", kind="group", le="1.0") == 1

        assert value(samples, "chatroom_connections", port="main") == 2
        assert value(samples, "chatroom_sessions", port="main") == 2
        assert value(samples, "chatroom_connections", port="debug") == 1
        assert value(samples, "chatroom_sessions", port="debug") == 0
        assert value(samples, "chatroom_nodes") == 1
        assert value(samples, "chatroom_ready") == 1
        assert value(samples, "chatroom_redis_up") == 1
        assert value(samples, "chatroom_redis_ping_seconds_count") >= 1
        assert value(samples, "chatroom_redis_errors_total", kind="error") == 0
        assert value(samples, "chatroom_relay_messages_total", direction="out", kind="direct") == 0
        assert value(samples, "process_cpu_seconds_total") > 0
        assert any(name == "chatroom_node_info" for name, _ in samples)

        await bob.close()
        await until(lambda: value(scrape(metricsPort), "chatroom_sessions", port="main") == 1)
        assert value(scrape(metricsPort), "chatroom_connections", port="main") == 1

        # A hung Redis (stopped, as a stalled machine would be): the probe's
        # PING times out, the link's watchdog drops the connection.
        redisPids = redisServersOf(str(tmp_path))
        for pid in redisPids:
            os.kill(pid, signal.SIGSTOP)
        try:
            await until(lambda: status(metricsPort, "/healthz") == 503, timeout=15)
            code, body = get(metricsPort, "/readyz")
            assert code == 503
            assert '"redis": "down"' in body and '"storage": "prepared"' in body
            samples = scrape(metricsPort)
            assert value(samples, "chatroom_redis_up") == 0
            assert value(samples, "chatroom_ready") == 0
            assert value(samples, "chatroom_redis_errors_total", kind="timeout") == 1
            # What a client sees meanwhile is counted as well.
            try:
                await alice.request("send", to="小红", text="还在吗")
            except WireError as e:
                assert e.code == "unavailable"
            else:
                raise AssertionError("a send without Redis succeeded")
            assert value(scrape(metricsPort), "chatroom_requests_total", type="send", code="unavailable") == 1
        finally:
            for pid in redisPids:
                os.kill(pid, signal.SIGCONT)
        await until(lambda: status(metricsPort, "/readyz") == 200, timeout=15)
        assert status(metricsPort, "/healthz") == 200

        # Killed, the embedded Redis is restarted at once: the node is
        # healthy again.
        killRedisOf(str(tmp_path))
        await wait(0.5)
        await until(lambda: status(metricsPort, "/healthz") == 200, timeout=15)
    finally:
        for client in clients:
            await client.close()
        server.stop()


@pytest_twisted.ensureDeferred
async def test_not_ready_until_storage_then_not_healthy_without_redis(tmp_path):
    """
    The metrics port answers from the start: before the node's Redis
    exists, C{/healthz} and C{/readyz} are 503; once Redis is up and the
    node ready, 200; while Redis is gone, 503 again.
    """
    redis = RedisProcess()
    metricsPort = freePort()
    server = Twistd(str(tmp_path), str(tmp_path / "twistd.log"),
                    ["--redis", "unix://" + redis.socket, "--metrics", "tcp:%d:interface=127.0.0.1" % (metricsPort,)])
    server.start()
    try:
        await until(lambda: status(metricsPort, "/readyz") is not None, timeout=20)
        code, body = get(metricsPort, "/readyz")
        assert code == 503
        assert '"storage": "preparing"' in body and '"ports": "not listening"' in body
        assert status(metricsPort, "/healthz") == 503
        assert value(scrape(metricsPort), "chatroom_ready") == 0

        redis.start()
        await until(lambda: status(metricsPort, "/readyz") == 200, timeout=20)
        assert status(metricsPort, "/healthz") == 200
        client = await server.ready("准备好了")
        await client.close()

        redis.kill()
        await until(lambda: status(metricsPort, "/healthz") == 503, timeout=10)
        assert status(metricsPort, "/readyz") == 503
    finally:
        server.stop()
        redis.stop()


@pytest_twisted.ensureDeferred
async def test_each_worker_serves_its_own(tmp_path):
    """
    With C{--workers 2 --metrics tcp:P}, worker 1 serves on P and worker 2
    on P + 1, each its own node's metrics and health.
    """
    base = freePort()
    while listeners(base + 1):
        base = freePort()
    server = WorkersTwistd(str(tmp_path), str(tmp_path / "twistd.log"),
                           ["--metrics", "tcp:%d:interface=127.0.0.1" % (base,)])
    server.start()
    try:
        client = await server.ready("工人")
        for port in (base, base + 1):
            await until(lambda: status(port, "/readyz") == 200, timeout=20)
        nodes = []
        for port in (base, base + 1):
            samples = scrape(port)
            nodes += [dict(labels)["node"] for name, labels in samples if name == "chatroom_node_info"]
            await until(lambda: value(scrape(port), "chatroom_nodes") == 2, timeout=10)
        assert [node[-3:] for node in nodes] == ["-w1", "-w2"]
        # The one login happened on one worker.
        logins = [value(scrape(port), "chatroom_logins_total") for port in (base, base + 1)]
        assert sorted(logins) == [0, 1]
        # A user on each worker (the kernel picks the worker of each
        # connection): a message between them is relayed, out of one
        # worker and into the other.
        byPort = {base: [("工人", client)] if logins[0] else [], base + 1: [] if logins[0] else [("工人", client)]}
        clients = [client]
        for i in range(30):
            if byPort[base] and byPort[base + 1]:
                break
            before = value(scrape(base), "chatroom_logins_total")
            name = "用户%d" % (i,)
            clients.append(await server.ready(name))
            port = base if value(scrape(base), "chatroom_logins_total") > before else base + 1
            byPort[port].append((name, clients[-1]))
        (_, aliceClient), (bob, bobClient) = byPort[base][0], byPort[base + 1][0]
        reply = await aliceClient.request("send", to=bob, text="跨进程 📨")
        await bobClient.event(type="message", msg_id=reply["msg_id"])
        sender, receiver = scrape(base), scrape(base + 1)
        assert value(sender, "chatroom_relay_messages_total", direction="out", kind="direct") == 1
        assert value(receiver, "chatroom_relay_messages_total", direction="in", kind="direct") == 1
        assert value(sender, "chatroom_messages_stored_total", kind="direct") == 1
        assert value(receiver, "chatroom_messages_stored_total", kind="direct") == 0
        assert value(receiver, "chatroom_messages_delivered_total", kind="direct") == 1
        for each in clients:
            await each.close()
    finally:
        server.stop()
