# -*- test-case-name: tests.store.test_pubsub,tests.store.test_cluster_mode,tests.test_cluster -*-
"""
Pub/sub between nodes, in the two forms Redis offers: classic C{PUBLISH}
and C{SUBSCRIBE} on one Redis, and sharded C{SPUBLISH} and C{SSUBSCRIBE} on
a Redis Cluster (each channel lives on the master of its hash slot, so the
traffic of a group's channel stays on the group's master).

Both keep the set of channels wanted and subscribe to them again whenever
they were lost (a reconnection, a failover, a slot moved), and both tell
their hooks which channels Redis has just confirmed.  What is published
while a channel is not subscribed (between losing it and subscribing to it
again) is not heard: pub/sub carries live copies only.
"""

import random
from collections import OrderedDict

import txredisapi
from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger

from chatroom.store.connection import RedisLink
from chatroom.store.routing import ClusterLink
from chatroom.store.slots import channelName
from chatroom.store.sharded import ClusterSubscriber


def _token():
    # What sets one publisher's message ids apart from another's.
    return b"%08x." % (random.getrandbits(32),)


def _framed(token, sequence, message):
    # A sharded message: its id (token and sequence number), a space, the
    # message; receivers drop the ids they have had (copies published again).
    return b"%s%x %s" % (token, sequence, message)


class RelayProtocol(txredisapi.SubscriberProtocol):
    """
    The classic pub/sub connection: hands every message to its link's
    C{onMessage}.
    """

    def messageReceived(self, pattern, channel, message):
        self.factory.link.onMessage(message)


class _PubSub(Service):
    """
    What both forms share: the receiver, the hooks, the wanted channels.

    @ivar wanted: the channels subscribed to, or to be once Redis is back.
    """

    log = Logger()

    def __init__(self):
        self.wanted = set()
        self._receiver = None
        self._onSubscribed = []

    def listen(self, receiver):
        """
        Call C{receiver(message)} for every message on a wanted channel.
        """
        self._receiver = receiver

    def onSubscribed(self, f):
        """
        Call C{f(channels)} every time Redis confirms subscriptions: after
        L{subscribe} and after every subscription made again.
        """
        self._onSubscribed.append(f)

    def _message(self, message):
        if self._receiver is not None:
            self._receiver(message)

    def _confirmed(self, channels):
        for f in self._onSubscribed:
            try:
                f(channels)
            except Exception:
                self.log.failure("Hook on subscribing failed")


class ClassicPubSub(_PubSub):
    """
    C{PUBLISH} on the command link and C{SUBSCRIBE} on a pub/sub link of
    its own, to one Redis (or a Sentinel-watched master).

    @ivar subscriber: the L{RedisLink} for pub/sub.
    """

    def __init__(self, link, reactor, **redis):
        """
        @param link: the L{RedisLink} for commands (publishing).
        @param redis: where Redis is, as for L{RedisLink}.
        """
        super().__init__()
        self.link = link
        self.subscriber = RedisLink(reactor, protocol=RelayProtocol, name="Redis pub/sub", **redis)
        self.subscriber.onMessage = self._message
        self.subscriber.onConnected(self._resubscribe)

    def startService(self):
        super().startService()
        self.subscriber.startService()

    def stopService(self):
        super().stopService()
        return self.subscriber.stopService()

    def _connection(self):
        for conn in self.subscriber.factory.pool:
            if conn.connected:
                return conn
        return None

    def _subscribe(self, conn, channels):
        d = defer.gatherResults([conn.subscribe(channel) for channel in channels], consumeErrors=True)
        return d.addCallback(lambda _: self._confirmed(channels))

    def _resubscribe(self, conn):
        # A new connection (the first or after an outage) subscribes to
        # every channel wanted.
        self._subscribe(conn, sorted(self.wanted)).addErrback(self._failed, "subscribing")

    def subscribe(self, channels):
        """
        Subscribe to C{channels}: a Deferred that fires once Redis confirmed
        them, or at once when Redis is not connected (they are subscribed
        to on reconnection).
        """
        new = [channel for channel in channels if channel not in self.wanted]
        self.wanted.update(new)
        conn = self._connection()
        if not new or conn is None:
            return defer.succeed(None)
        return self._subscribe(conn, new).addErrback(self._failed, "subscribing")

    def unsubscribe(self, channels):
        """
        Unsubscribe from C{channels}.
        """
        gone = [channel for channel in channels if channel in self.wanted]
        self.wanted.difference_update(gone)
        conn = self._connection()
        if conn is not None:
            for channel in gone:
                conn.unsubscribe(channel).addErrback(self._failed, "unsubscribing")

    def publish(self, channel, message):
        """
        Publish C{message} on C{channel}: a Deferred of the number of
        subscribers that got it.
        """
        return self.link.execute("PUBLISH", channel, message)

    def _failed(self, failure, what):
        self.log.warn("Pub/sub failed {what}: {error}", what=what, error=failure.getErrorMessage())


class ShardedPubSub(_PubSub):
    """
    C{SPUBLISH} through a L{ClusterLink} and C{SSUBSCRIBE} through a
    L{ClusterSubscriber}: each channel on the master of its slot.

    When a slot moves (or its master fails over), its master unsubscribes
    every subscriber of its channels, which subscribe again on the new
    master a moment later: what is published meanwhile reaches fewer
    nodes than before.  So a message that reached fewer subscribers than
    the channel's previous one, while the slot map has just changed, is
    published again a few times over the next seconds; every message
    carries an id (this publisher's token and a sequence number) and
    receivers drop the copies they have already had.

    @ivar subscriber: the L{ClusterSubscriber}.
    @ivar republished: how many messages were published again.
    @ivar duplicates: how many copies received were dropped.
    """

    #: Seconds L{subscribe} waits for Redis to confirm new subscriptions
    #: (a master may be failing over): then its Deferred fires anyway, and
    #: the subscriptions are made when the master is back.
    confirmTimeout = 2
    #: Delays before each new publication of a message that reached fewer
    #: subscribers than its channel's previous one.
    republishDelays = (0.05, 0.2, 0.5, 1, 2, 4)
    #: Seconds after a change of the slot map during which a fall in a
    #: channel's subscribers is taken for a move or a failover under way
    #: (otherwise it is a node that stopped listening).
    unsettled = 10
    #: How many channels' subscriber counts, and how many message ids
    #: received, are remembered.
    channelsRemembered = 10000
    idsRemembered = 65536

    def __init__(self, link):
        """
        @param link: the L{ClusterLink}, for publishing and for the slot map.
        """
        super().__init__()
        self.link = link
        self.reactor = link.reactor
        self.subscriber = ClusterSubscriber(link, lambda channel, message: self._received(message))
        self.subscriber.onSubscribed(self._joined)
        link.onSlotsChanged(self._slotsChanged)
        self._confirming = []
        self._token = _token()
        self._sequence = 0
        self._heard = OrderedDict()
        self._seen = OrderedDict()
        self._changed = None
        self._republishing = set()
        self.republished = self.duplicates = 0

    def startService(self):
        super().startService()
        self.subscriber.startService()

    def stopService(self):
        super().stopService()
        for pending, d, timer in self._confirming:
            if timer.active():
                timer.cancel()
        self._confirming = []
        for call in self._republishing:
            if call.active():
                call.cancel()
        self._republishing.clear()
        return self.subscriber.stopService()

    def _joined(self, channel):
        for entry in list(self._confirming):
            pending, d, timer = entry
            pending.discard(channel)
            if not pending:
                self._confirming.remove(entry)
                timer.cancel()
                d.callback(None)
        self._confirmed([channel])

    def _timedOut(self, entry):
        self._confirming.remove(entry)
        pending, d, timer = entry
        self.log.warn("Subscribing to {channels} not confirmed yet; carrying on",
                      channels=", ".join(sorted(pending)))
        d.callback(None)

    def subscribe(self, channels):
        """
        Subscribe to C{channels}: a Deferred that fires once Redis confirmed
        them, or after L{confirmTimeout} seconds if it has not (they are
        subscribed to when their masters are back).
        """
        new = {channelName(channel) for channel in channels} - self.wanted
        if not new:
            return defer.succeed(None)
        self.wanted.update(new)
        self.subscriber.subscribe(*sorted(new))
        if not self.running:
            # Subscribed to once started, as a classic link's channels are
            # on connection.
            return defer.succeed(None)
        d = defer.Deferred()
        entry = (new, d, self.reactor.callLater(self.confirmTimeout, lambda: self._timedOut(entry)))
        self._confirming.append(entry)
        return d

    def unsubscribe(self, channels):
        """
        Unsubscribe from C{channels}.
        """
        gone = {channelName(channel) for channel in channels} & self.wanted
        self.wanted.difference_update(gone)
        if gone:
            self.subscriber.unsubscribe(*sorted(gone))

    # Publishing, at least once while slots move.

    def publish(self, channel, message):
        """
        Publish C{message} (bytes) on C{channel} (on the master of its
        slot): a Deferred of the number of subscribers that got it.
        """
        self._sequence += 1
        data = _framed(self._token, self._sequence, message)
        return self.link.execute("SPUBLISH", channel, data).addCallback(self._published, channel, data, 0)

    def _slotsChanged(self):
        self._changed = self.reactor.seconds()

    def _published(self, count, channel, data, attempt):
        count, heard = int(count), self._heard
        before = heard.get(channel, 0)
        changed = self._changed
        if (count < before and attempt < len(self.republishDelays) and self.running and changed is not None
                and self.reactor.seconds() - changed < self.unsettled):
            call = self.reactor.callLater(self.republishDelays[attempt], self._republish, channel, data, attempt + 1)
            self._republishing.add(call)
            return count
        heard[channel] = count
        heard.move_to_end(channel)
        if len(heard) > self.channelsRemembered:
            heard.popitem(last=False)
        return count

    def _republish(self, channel, data, attempt):
        self._republishing = {call for call in self._republishing if call.active()}
        self.republished += 1
        d = self.link.execute("SPUBLISH", channel, data).addCallback(self._published, channel, data, attempt)
        d.addErrback(lambda f: self.log.warn("Publishing again on {channel} failed: {error}", channel=channel,
                                             error=f.getErrorMessage()))

    def _received(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        messageId, _, message = data.partition(b" ")
        seen = self._seen
        if messageId in seen:
            self.duplicates += 1
            return  # a copy published again
        seen[messageId] = None
        if len(seen) > self.idsRemembered:
            seen.popitem(last=False)
        self._message(message)


class _ClassicPublisher:
    """
    C{PUBLISH} on one Redis, subscribing to nothing.
    """

    def __init__(self, link):
        self.link = link

    def publish(self, channel, message):
        """
        Publish C{message}: a Deferred of the number of subscribers.
        """
        return self.link.execute("PUBLISH", channel, message)


class _ShardedPublisher:
    """
    C{SPUBLISH} on a Redis Cluster, with the ids L{ShardedPubSub}'s
    receivers expect, subscribing to nothing.
    """

    def __init__(self, link):
        self.link = link
        self._token = _token()
        self._sequence = 0

    def publish(self, channel, message):
        """
        Publish C{message} on the master of C{channel}'s slot: a Deferred
        of the number of subscribers.
        """
        self._sequence += 1
        return self.link.execute("SPUBLISH", channel, _framed(self._token, self._sequence, message))


def publisherFor(link):
    """
    A publisher only (C{publish(channel, message)}) on the command link
    C{link}, in the form of pub/sub the nodes use there: sharded on a
    L{ClusterLink}, classic otherwise.  For a process that is no node
    (C{chatroom-admin}): it opens no connection of its own.
    """
    if isinstance(link, ClusterLink):
        return _ShardedPublisher(link)
    return _ClassicPublisher(link)
