"""
Browser tests of the web client: a real C{twistd chatroom} with its web port
(on the test run's redis-server), Debian's chromium driven headless by
Selenium through its chromedriver (nothing downloaded), and a blocking
main-port client for the other side of a conversation.
"""

import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time

from tests.support.twistd import TWISTD, freePort, stopProcess

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def browserAvailable():
    """
    Whether chromium, its driver and selenium are installed.
    """
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False
    return os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)


class WebServer:
    """
    C{twistd -n chatroom} on loopback ports, with the web port, storing in
    the L{tests.support.servers.RedisProcess} C{redis}.
    """

    def __init__(self, redis, logPath, extra=()):
        self.redis = redis
        self.logPath = logPath
        self.port = freePort()
        self.webPort = freePort()
        self.extra = list(extra)
        self.process = None
        self.dir = tempfile.mkdtemp(prefix="chatroom-web-test-")

    @property
    def url(self):
        return "http://127.0.0.1:%d/" % (self.webPort,)

    def start(self, timeout=30):
        args = [
            TWISTD, "-n", "--pidfile=", "chatroom",
            "--port", "tcp:%d:interface=127.0.0.1" % (self.port,), "--debug-port", "none",
            "--web", "tcp:%d:interface=127.0.0.1" % (self.webPort,),
            "--redis", "unix://" + self.redis.socket, "--data-dir", self.dir,
            "--hash-cost", "1", "--hash-memory", "8",
            # The tests' protocol users send faster than people.
            "--send-limit", "none", "--request-limit", "none",
        ] + self.extra
        with open(self.logPath, "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("twistd exited:\n" + self.log())
            try:
                client = BlockingClient(self.port)
                client.request("ping")
                client.close()
                with socket.create_connection(("127.0.0.1", self.webPort), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("twistd not ready:\n" + self.log())

    def log(self):
        with open(self.logPath, "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]

    def stop(self):
        if self.process is not None:
            stopProcess(self.process)
            self.process = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class BlockingClient:
    """
    A main-port client on a blocking socket (the browser tests block in
    Selenium, so they cannot run the reactor).
    """

    def __init__(self, port, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.nextId = 0
        self.events = []
        self._buffer = b""

    def _send(self, obj):
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.sock.sendall(struct.pack(">I", len(data)) + data)

    def _read(self, timeout):
        self.sock.settimeout(timeout)
        while True:
            if len(self._buffer) >= 4:
                (length,) = struct.unpack(">I", self._buffer[:4])
                if len(self._buffer) >= 4 + length:
                    data, self._buffer = self._buffer[4:4 + length], self._buffer[4 + length:]
                    return json.loads(data.decode("utf-8"))
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            self._buffer += chunk

    def request(self, type, timeout=10, **fields):
        """
        Send a request and return its reply (C{ok} or C{error}); events
        that come first are kept in C{events}.
        """
        self.nextId += 1
        self._send(dict(fields, type=type, id=self.nextId))
        deadline = time.monotonic() + timeout
        while True:
            obj = self._read(max(0.01, deadline - time.monotonic()))
            if obj.get("id") == self.nextId and obj.get("type") in ("ok", "error"):
                return obj
            self.events.append(obj)

    def ok(self, type, **fields):
        """
        L{request} that must succeed.
        """
        reply = self.request(type, **fields)
        assert reply["type"] == "ok", reply
        return reply

    def event(self, timeout=10, **match):
        """
        The first event (received or coming) with the given fields.
        """
        deadline = time.monotonic() + timeout
        while True:
            for obj in self.events:
                if all(obj.get(k) == v for k, v in match.items()):
                    self.events.remove(obj)
                    return obj
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no event %r; got %r" % (match, self.events))
            try:
                self.events.append(self._read(remaining))
            except socket.timeout:
                pass

    def close(self):
        self.sock.close()


def startBrowser(profileDir, width=1200, height=800):
    """
    A headless chromium under Selenium, with a fresh profile in
    C{profileDir}; nothing is fetched from the network.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--lang=zh-CN",
                 "--user-data-dir=%s" % (profileDir,), "--window-size=%d,%d" % (width, height)):
        options.add_argument(flag)
    # The page's console (errors included) for the tests to read.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager never looks for one online.
    service = Service(executable_path=CHROMEDRIVER)
    return webdriver.Chrome(service=service, options=options)
