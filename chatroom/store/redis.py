# -*- test-case-name: tests.store.test_redis_faults -*-
"""
The chat service's storage on Redis: one link for commands and scripts, one
for pub/sub, and the stores that use them.
"""

import time

from twisted.application.service import Service
from twisted.internet import defer
from zope.interface import implementer

from chatroom.store.accounts import AccountStore
from chatroom.store.connection import RedisLink
from chatroom.store.groups import GroupStore
from chatroom.store.interfaces import IChatStore
from chatroom.store.messages import DEFAULT_RETENTION, MessageStore
from chatroom.store.nodes import NodeStore, RelayProtocol
from chatroom.store.presence import PresenceStore


@implementer(IChatStore)
class RedisStore(Service):
    """
    Everything the chat service keeps, in one Redis (or a Sentinel-watched
    master).

    @ivar link: the L{RedisLink} for commands.
    @ivar subscriber: the L{RedisLink} for pub/sub between nodes.
    """

    def __init__(self, reactor, node, retention=DEFAULT_RETENTION, **redis):
        """
        @param redis: where Redis is: the keyword arguments of L{RedisLink}
            (what L{chatroom.store.urls.parseRedisURL} returns).
        """
        self.link = RedisLink(reactor, **redis)
        self.subscriber = RedisLink(reactor, protocol=RelayProtocol, name="Redis pub/sub", **redis)
        self.accounts = AccountStore(self.link)
        self.groups = GroupStore(self.link)
        self.messages = MessageStore(self.link, retention)
        self.presence = PresenceStore(self.link, node, self.accounts, self.groups)
        self.nodes = NodeStore(self.link, self.subscriber, node, self.presence, self.groups)

    def startService(self):
        super().startService()
        self.link.startService()
        self.subscriber.startService()

    def stopService(self):
        super().stopService()
        return defer.gatherResults(
            [defer.maybeDeferred(self.subscriber.stopService), defer.maybeDeferred(self.link.stopService)],
            consumeErrors=True,
        )

    @property
    def connected(self):
        """
        Whether Redis can be reached now.
        """
        return self.link.connected

    def whenConnected(self):
        """
        A Deferred that fires once Redis can be reached.
        """
        return self.link.whenConnected()

    def onConnected(self, f):
        """
        Call C{f()} every time the command link connects (the first time
        and after every outage).
        """
        self.link.onConnected(lambda connection: f())

    async def info(self, section="server"):
        """
        Redis's health: the link's address and state, the PING round trip
        in milliseconds and the fields of C{INFO section}.
        """
        link = self.link
        info = {"address": link.address, "connected": link.connected}
        started = time.monotonic()
        await link.execute("PING")
        info["ping_ms"] = round((time.monotonic() - started) * 1000, 3)
        text = await link.execute("INFO", section)
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep and not key.startswith("#"):
                info[key] = value
        return info
