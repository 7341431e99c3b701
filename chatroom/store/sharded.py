# -*- test-case-name: tests.store.test_routing -*-
"""
Sharded pub/sub on a Redis Cluster (Redis 7): each channel lives on the
master of its hash slot, so a subscriber keeps one connection per master
that owns some of its channels, and subscribes again wherever a channel
went (a slot moved, a failover).
"""

from collections import Counter

import txredisapi
from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger

from chatroom.store.clusternodes import callHooks, connectionTo
from chatroom.store.slots import channelName, keySlot, redirection


class ShardedSubscriberProtocol(txredisapi.SubscriberProtocol):
    """
    A pub/sub connection that speaks sharded pub/sub (Redis 7): it hands
    C{smessage} pushes to C{factory.owner.messageReceived(channel, message)}
    and a C{sunsubscribe} it did not ask for (the channel's slot moved away)
    to C{factory.owner.channelLost(self, channel)}.

    @ivar leaving: how many C{SUNSUBSCRIBE} replies are due, by channel.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.leaving = Counter()

    def replyReceived(self, reply):
        if isinstance(reply, list) and len(reply) == 3:
            kind, channel, body = reply
            if kind == "smessage":
                return self.factory.owner.messageReceived(channel, body)
            if kind == "sunsubscribe":
                if not self.leaving[channel]:
                    return self.factory.owner.channelLost(self, channel)
                self.leaving[channel] -= 1
        super().replyReceived(reply)


class ClusterSubscriber(Service):
    """
    Sharded pub/sub on a Redis Cluster: each channel is subscribed to
    (C{SSUBSCRIBE}) on the master of its slot, as the L{ClusterLink}'s map
    says, and again wherever it goes after a lost connection, a failover or
    a slot move.  Messages go to C{callback(channel, message)}; publish them
    with C{link.execute("SPUBLISH", channel, message)}.

    @ivar channels: for every channel subscribed to now, the C{(host,
        port)} of the master that confirmed it.
    """

    log = Logger()

    def __init__(self, link, callback):
        self.link = link
        self.reactor = link.reactor
        self.password = link.password
        self.callback = callback
        self.channels = {}
        self._wanted = set()
        self._nodes = {}
        self._waiting = []
        self._syncing = False
        self._onSubscribed = []
        link.onSlotsChanged(self._resync)

    def startService(self):
        super().startService()
        self._resync()

    def stopService(self):
        super().stopService()
        self.channels.clear()
        nodes, self._nodes = self._nodes, {}
        return defer.gatherResults([node.disconnect() for node in nodes.values()], consumeErrors=True)

    def subscribe(self, *channels):
        """
        Subscribe to C{channels}; a Deferred that fires once they have been
        asked for (a channel whose master is unreachable is subscribed to
        when it is back: see L{channels}).
        """
        self._wanted.update(map(channelName, channels))
        return self._resync()

    def unsubscribe(self, *channels):
        """
        Unsubscribe from C{channels}; a Deferred as L{subscribe}'s.
        """
        for channel in map(channelName, channels):
            self._wanted.discard(channel)
            self._leave(channel)
        return self._resync()

    def onSubscribed(self, f):
        """
        Call C{f(channel)} every time a master confirms a subscription to
        C{channel} (the first and every one made again after the channel
        was lost).
        """
        self._onSubscribed.append(f)

    def messageReceived(self, channel, message):
        """
        Hand a message to the callback.
        """
        try:
            self.callback(channel, message)
        except Exception:
            self.log.failure("Handling a message on {channel} failed", channel=channel)

    def channelLost(self, conn, channel):
        """
        Redis dropped C{channel} from C{conn}: its slot has moved.
        Subscribe again where the map, re-read, says it is now.
        """
        if self.channels.get(channel) == conn.factory.address:
            del self.channels[channel]
        self.link.refresh().addBoth(lambda _: self._resync())

    def _leave(self, channel):
        node = self._nodes.get(self.channels.pop(channel, None))
        conn = node.connection() if node is not None else None
        if conn is not None:
            conn.leaving[channel] += 1
            conn.execute_command("SUNSUBSCRIBE", channel).addErrback(lambda _: None)

    def _connectionUp(self, node, conn):
        self._resync()

    def _connectionDown(self, node, conn):
        for channel, address in list(self.channels.items()):
            if address == node.address:
                del self.channels[channel]

    def _resync(self):
        # One pass at a time; calls during a pass share the next one.
        d = defer.Deferred()
        self._waiting.append(d)
        if not self._syncing:
            self._pass()
        return d

    def _pass(self):
        self._syncing = True
        waiting, self._waiting = self._waiting, []

        def done(_):
            self._syncing = False
            for d in waiting:
                d.callback(None)
            if self._waiting:
                self._pass()

        d = defer.ensureDeferred(self._sync())
        d.addErrback(lambda f: self.log.failure("Subscribing failed", f)).addBoth(done)

    async def _sync(self):
        if not self.running:
            return
        places = {channel: self.link.nodeForSlot(keySlot(channel)) for channel in self._wanted}
        joins = [defer.ensureDeferred(self._join(channel, address))
                 for channel, address in places.items() if address is not None and self.channels.get(channel) != address]
        await defer.gatherResults(joins, consumeErrors=True)
        # Close the connections no channel needs (an old master, say).
        needed = set(places.values()) | set(self.channels.values())
        for address in [a for a in self._nodes if a not in needed]:
            self._nodes.pop(address).disconnect()

    async def _join(self, channel, address):
        if channel in self.channels:
            self._leave(channel)  # still subscribed where the channel was
        conn = connectionTo(self, address, ShardedSubscriberProtocol)
        if conn is None:
            return  # _connectionUp comes back here
        try:
            await conn.execute_command("SSUBSCRIBE", channel)
        except txredisapi.ResponseError as e:
            retry = redirection(str(e), address[0])
            if retry is None:
                self.log.warn("SSUBSCRIBE {channel} failed: {error}", channel=channel, error=e)
                return
            # Our map is behind the cluster's (MOVED), or the cluster is
            # changing: read it again, then come back here.
            if retry.kind == "MOVED":
                self.link.moved(keySlot(channel), retry.address)
            self.link.refresh().addBoth(lambda _: self._resync())
            return
        except Exception:
            return  # the connection is lost: _connectionUp comes back here
        self.channels[channel] = address
        if channel not in self._wanted:
            self._leave(channel)  # unsubscribed meanwhile
        else:
            callHooks(self.log, self._onSubscribed, channel)
