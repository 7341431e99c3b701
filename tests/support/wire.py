"""
A test client written from PROTOCOL.md alone: length-prefixed JSON over real
TCP, requests with ids, replies matched to them, events queued.
"""

import json

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.protocols.basic import Int32StringReceiver


class WireError(Exception):
    """
    An C{error} reply.
    """

    def __init__(self, reply):
        super().__init__(reply.get("code"), reply.get("message"))
        self.reply = reply
        self.code = reply.get("code")


class ClientCalls:
    """
    What the test clients of both kinds (over TCP, in memory) share; they
    keep the replies and events they received in C{replies} and C{events},
    and the Deferreds of requests waiting for replies in C{waiting}.
    """

    def route(self, obj):
        """
        A decoded object arrived: fire the Deferred of the request it
        answers, or keep it as an event (then C{True}).
        """
        if obj.get("type") in ("ok", "error"):
            self.replies.append(obj)
            d = self.waiting.pop(obj.get("id"), None)
            if d is not None:
                if obj["type"] == "ok":
                    d.callback(obj)
                else:
                    d.errback(WireError(obj))
            return False
        self.events.append(obj)
        return True

    def messages(self):
        """
        The C{message} events received so far (and forget them).
        """
        found = [e for e in self.events if e.get("type") == "message"]
        self.events = [e for e in self.events if e.get("type") != "message"]
        return found


class ServerCalls:
    """
    What the test servers of both kinds (over TCP, in memory) share; they
    make connections with C{client()}.
    """

    async def user(self, name, password="secret", register=True):
        """
        A connection logged in as C{name} (registered first).
        """
        client = await self.client()
        if register:
            await client.request("register", user=name, password=password)
        await client.request("login", user=name, password=password)
        return client


class TestClient(Int32StringReceiver, ClientCalls):
    """
    One connection of a test user.
    """

    MAX_LENGTH = 16 * 1024 * 1024

    def __init__(self):
        self.nextId = 0
        self.waiting = {}
        self.replies = []
        self.events = []
        self.eventWaiters = []
        self.closed = defer.Deferred()
        self.connected = False

    def connectionMade(self):
        self.connected = True

    def connectionLost(self, reason):
        self.connected = False
        for d in list(self.waiting.values()):
            d.errback(reason)
        self.waiting.clear()
        self.closed.callback(None)

    def stringReceived(self, data):
        obj = json.loads(data.decode("utf-8"))
        if not self.route(obj):
            return
        for match, d in list(self.eventWaiters):
            if match(obj):
                self.eventWaiters.remove((match, d))
                d.callback(obj)

    def sendObject(self, obj):
        """
        Send C{obj} as one frame.
        """
        self.sendString(json.dumps(obj, ensure_ascii=False).encode("utf-8"))

    def sendRaw(self, data):
        """
        Write raw bytes (for framing tests).
        """
        self.transport.write(data)

    def request(self, type, **fields):
        """
        Send a request; a Deferred of its C{ok} reply (errback L{WireError}).
        """
        self.nextId += 1
        rid = self.nextId
        d = defer.Deferred()
        self.waiting[rid] = d
        self.sendObject(dict(fields, type=type, id=rid))
        return d

    def event(self, timeout=5, **match):
        """
        The first event (already received or future) with the given fields.
        """
        def matches(obj):
            return all(obj.get(k) == v for k, v in match.items())

        for obj in self.events:
            if matches(obj):
                self.events.remove(obj)
                return defer.succeed(obj)
        d = defer.Deferred()
        entry = (matches, d)
        self.eventWaiters.append(entry)

        def takeFromList(obj):
            if obj in self.events:
                self.events.remove(obj)
            return obj

        d.addCallback(takeFromList)
        return d.addTimeout(timeout, reactor)

    def wait(self, seconds):
        """
        Let C{seconds} pass.
        """
        return defer.ensureDeferred(wait(seconds))

    def until(self, predicate, timeout=5.0):
        """
        Wait until C{predicate()} is true.
        """
        return defer.ensureDeferred(until(predicate, timeout=timeout))

    def close(self):
        """
        Close the connection; a Deferred that fires when it is closed.
        """
        if self.connected:
            self.transport.loseConnection()
        return self.closed


async def connect(port, host="127.0.0.1"):
    """
    A connected L{TestClient}.
    """
    return await connectProtocol(TCP4ClientEndpoint(reactor, host, port), TestClient())


async def wait(seconds):
    """
    Let the reactor run for C{seconds}.
    """
    d = defer.Deferred()
    reactor.callLater(seconds, d.callback, None)
    await d


async def until(predicate, timeout=5.0, step=0.01):
    """
    Wait until C{predicate()} is true.
    """
    waited = 0.0
    while not predicate():
        if waited >= timeout:
            raise AssertionError("condition not met within %s s" % (timeout,))
        await wait(step)
        waited += step
