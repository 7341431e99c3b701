# -*- test-case-name: tests.store.test_redis_faults -*-
"""
The chat service's storage on Redis: one link for commands and scripts, one
for pub/sub, and the stores that use them; on one Redis (or a
Sentinel-watched master) or on a Redis Cluster.
"""

import time
from functools import partial

from twisted.application.service import Service
from twisted.internet import defer
from zope.interface import implementer

from chatroom import errors
from chatroom.store.accounts import LOBBY, AccountStore
from chatroom.store.connection import RedisLink
from chatroom.store.controls import ControlStore
from chatroom.store.conversations import ConversationStore
from chatroom.store.groups import GroupStore
from chatroom.store.interfaces import IChatStore
from chatroom.store.messages import DEFAULT_RETENTION, MessageStore
from chatroom.store.nodes import NodeStore
from chatroom.store.presence import PresenceStore
from chatroom.store.pubsub import ClassicPubSub, ShardedPubSub
from chatroom.store.routing import ClusterLink


@implementer(IChatStore)
class RedisStore(Service):
    """
    Everything the chat service keeps, in one Redis (or a Sentinel-watched
    master), or in a Redis Cluster.

    @ivar link: the L{RedisLink} (or L{ClusterLink}) for commands.
    @ivar pubsub: the L{ClassicPubSub} (or L{ShardedPubSub}) between nodes.
    """

    def __init__(self, reactor, node, retention=DEFAULT_RETENTION, cluster=None, **redis):
        """
        @param cluster: C{(host, port)} of nodes of a Redis Cluster to use;
            then C{redis} holds only its C{password}.
        @param redis: where Redis is: the keyword arguments of L{RedisLink}
            (what L{chatroom.store.urls.parseRedisURL} returns).
        """
        self.link = commandLink(reactor, cluster, **redis)
        if cluster:
            self.pubsub = ShardedPubSub(self.link)
        else:
            self.pubsub = ClassicPubSub(self.link, reactor, **redis)
        self.accounts = AccountStore(self.link)
        self.groups = GroupStore(self.link)
        self.messages = MessageStore(self.link, retention)
        self.conversations = ConversationStore(self.link, self.messages)
        self.presence = PresenceStore(self.link, node, self.accounts, self.groups)
        self.nodes = NodeStore(self.link, self.pubsub, node, self.presence, self.groups)
        self.controls = ControlStore(self.link, self.groups)

    def startService(self):
        super().startService()
        self.link.startService()
        self.pubsub.startService()

    def stopService(self):
        super().stopService()
        return defer.gatherResults(
            [defer.maybeDeferred(self.pubsub.stopService), defer.maybeDeferred(self.link.stopService)],
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

    async def prepare(self):
        """
        Migrate data written by release 0.1 to this layout, once (see
        L{chatroom.store.migrate}); nodes starting meanwhile wait for it.
        """
        from chatroom.store.directory import buildDirectory
        from chatroom.store.migrate import migrate
        from chatroom.store.names import buildIndex

        await migrate(self.link)
        await buildDirectory(self.link)
        # Names made before the name rules of 1.1 get their keys, once; the
        # lobby's are claimed at every start (it is made at every start).
        await buildIndex(self.link)
        await self.groups.names.claim(LOBBY)

    def onConnected(self, f):
        """
        Call C{f()} every time the command link connects (the first time
        and after every outage).
        """
        self.link.onConnected(lambda connection: f())

    def ping(self):
        """
        A Deferred that fires when Redis answers a C{PING} (on a Redis
        Cluster, the first master): the health probe's round trip.
        """
        link = self.link
        if isinstance(link, ClusterLink):
            masters = list(link.masters())
            if not masters:
                return defer.fail(errors.Unavailable())
            return link.executeOnNode(masters[0], "PING")
        return link.execute("PING")

    def info(self, section="server"):
        """
        Redis's health: see L{linkInfo}.
        """
        return defer.ensureDeferred(linkInfo(self.link, section))


def commandLink(reactor, cluster=None, **redis):
    """
    The link for commands and scripts to the Redis that C{redis} (what
    L{chatroom.store.urls.parseRedisURL} returns) names: a L{RedisLink},
    or a L{ClusterLink} for a Redis Cluster.
    """
    if cluster:
        return ClusterLink(reactor, cluster, **redis)
    return RedisLink(reactor, **redis)


async def linkInfo(link, section="server"):
    """
    Redis's health: the link's address and state, the PING round trip
    in milliseconds and the fields of C{INFO section}.  On a Redis
    Cluster, those of the first master, and every master's under
    C{"masters"} (by C{"host:port"}).
    """
    info = {"address": link.address, "connected": link.connected}
    if not isinstance(link, ClusterLink):
        info.update(await _nodeInfo(link.execute, section))
        return info
    masters = {}
    for address in link.masters():
        try:
            masters["%s:%d" % address] = await _nodeInfo(partial(link.executeOnNode, address), section)
        except Exception as e:
            masters["%s:%d" % address] = {"error": str(e) or type(e).__name__}
    if masters:
        info.update(next(iter(masters.values())))
    info["masters"] = masters
    return info


async def _nodeInfo(execute, section):
    # One Redis's PING round trip and INFO fields, through execute(*args).
    started = time.monotonic()
    await execute("PING")
    info = {"ping_ms": round((time.monotonic() - started) * 1000, 3)}
    text = await execute("INFO", section)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and not key.startswith("#"):
            info[key] = value
    return info
