# -*- test-case-name: tests.store.test_routing -*-
"""
Redis Cluster routing: which master serves a key, one connection per
master, following the cluster through resharding and failover
(L{chatroom.store.slots} knows the slots, L{chatroom.store.sharded} does
sharded pub/sub).

txredisapi knows nothing of Redis Cluster (its ShardedConnection hashes keys
on the client, which is not how a cluster places them), so this module reads
the slot map itself (C{CLUSTER SHARDS}: Redis 7, as sharded pub/sub needs),
sends each command to the master of its key's slot and follows the cluster's
redirections, as the Redis Cluster specification asks of a client.
"""

import txredisapi
from twisted.application.service import Service
from twisted.internet import defer, task
from twisted.logger import Logger
from twisted.python.failure import Failure

from chatroom import errors

from chatroom.store.clusternodes import _ProbeFactory, _endpoint, callHooks, connectionTo
# The only names borrowed from the single-node link.
from chatroom.store.connection import CommandProtocol, _translate

from chatroom.store.slots import SLOTS, Retry, classify, commandSlot, keySlot, parseShards


class ClusterLink(Service):
    """
    Runs commands and scripts on a Redis Cluster, each on the master of the
    slot of its first key, over one connection per master.

    C{MOVED} and C{ASK} are followed at once.  C{TRYAGAIN}, C{CLUSTERDOWN}
    and a master without a connection (a failover under way) are retried,
    re-reading the slot map between tries, for C{retryBudget} seconds at
    most; then the command fails with L{errors.Unavailable}.  So does at
    once a command whose connection is lost while it is in flight: it may
    have run, and only the caller knows whether running it twice is safe.
    """

    log = Logger()

    #: Commands to different masters take effect in no given order.
    ordered = False

    #: Seconds before the first retry; doubled after each try, up to
    #: C{maxRetryDelay}.
    retryDelay = 0.02
    maxRetryDelay = 0.5
    #: Seconds between readings of the slot map while every master is
    #: connected, and while one is not (a failover may be under way).
    refreshInterval = 10
    fastRefreshInterval = 0.5
    #: Seconds one reading of the slot map may take.
    refreshTimeout = 2

    def __init__(self, reactor, seeds, password=None, retryBudget=5.0, replyTimeout=5, name="Redis Cluster"):
        """
        @param seeds: C{(host, port)} of nodes to read the slot map from.
        """
        self.reactor = reactor
        self.seeds = [tuple(seed) for seed in seeds]
        self.password = password
        self.retryBudget = retryBudget
        self.replyTimeout = replyTimeout
        self.name = name
        self.address = ",".join("%s:%d" % seed for seed in self.seeds)
        self._slots = [None] * SLOTS
        self._owners = set()
        self._known = list(self.seeds)  # every node ever seen, to find the cluster again
        self._nodes = {}
        self._probes = set()
        self._refreshing = []
        self._timer = None
        self._mapFailing = False
        self._waiting, self._onConnected, self._onSlotsChanged = [], [], []
        self._oldest = {}
        self._watchdog = task.LoopingCall(self._checkReplies)
        self._watchdog.clock = reactor

    def startService(self):
        super().startService()
        self._tick()
        if self.replyTimeout:
            self._watchdog.start(self.replyTimeout / 2.0, now=False)

    def stopService(self):
        super().stopService()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        if self._watchdog.running:
            self._watchdog.stop()
        for probe in list(self._probes):
            probe.transport.abortConnection()
        nodes, self._nodes = self._nodes, {}
        return defer.gatherResults([node.disconnect() for node in nodes.values()], consumeErrors=True)

    @property
    def connected(self):
        """
        Whether the slot map is known and every master in it is connected.
        """
        return bool(self._owners) and all(
            a in self._nodes and self._nodes[a].connection() is not None for a in self._owners)

    def whenConnected(self):
        """
        A Deferred that fires once L{connected} is true.
        """
        if self.connected:
            return defer.succeed(self)
        d = defer.Deferred()
        self._waiting.append(d)
        return d

    def onConnected(self, f):
        """
        Call C{f(connection)} every time a connection to a master is made.
        """
        self._onConnected.append(f)

    def onSlotsChanged(self, f):
        """
        Call C{f()} every time a reading of the slot map changes it.
        """
        self._onSlotsChanged.append(f)

    def _connectionUp(self, node, conn):
        self.log.info("Connected to {name} node {address}", name=self.name, address="%s:%d" % node.address)
        callHooks(self.log, self._onConnected, conn)
        self._checkConnected()

    def _checkConnected(self):
        if self.connected:
            waiting, self._waiting = self._waiting, []
            for d in waiting:
                d.callback(self)

    def _connectionDown(self, node, conn):
        if self.running and self._nodes.get(node.address) is node:
            self.log.warn("Lost {name} node {address}", name=self.name, address="%s:%d" % node.address)
            self._schedule(self.fastRefreshInterval)

    def _checkReplies(self):
        # RedisLink's watchdog, per master: drop a connection whose oldest
        # waiting command was already the oldest half a timeout ago, to fail
        # its commands rather than let them hang.
        oldest = {}
        for address, node in self._nodes.items():
            conn = node.connection()
            if conn is not None and conn.replyQueue.waiting:
                if conn.replyQueue.waiting[0] is self._oldest.get(address):
                    self.log.warn("No reply from {address} for {seconds} s; reconnecting",
                                  address="%s:%d" % address, seconds=self.replyTimeout)
                    conn.transport.abortConnection()
                else:
                    oldest[address] = conn.replyQueue.waiting[0]
        self._oldest = oldest

    # The slot map

    def nodeForSlot(self, slot):
        """
        The C{(host, port)} of the master serving C{slot}, or C{None}.
        """
        return self._slots[slot]

    def masters(self):
        """
        The C{(host, port)} of every master serving slots, sorted.
        """
        return sorted(self._owners)

    def mastersOf(self, keys):
        """
        C{keys} grouped by the master serving them, C{{(host, port): [key,
        ...]}} (C{None} for unserved slots), to split a batch per master.
        """
        groups = {}
        for key in keys:
            groups.setdefault(self._slots[keySlot(key)], []).append(key)
        return groups

    def moved(self, slot, address):
        """
        Note that the master at C{address} serves C{slot} now (a C{MOVED}
        said so), and re-read the map soon: other slots have likely moved.
        """
        changed, self._slots[slot] = self._slots[slot] != address, address
        self._schedule(0)
        if changed:
            callHooks(self.log, self._onSlotsChanged)

    def refresh(self):
        """
        Read the slot map now; a Deferred that fires when it has been read.
        Concurrent callers share one reading.
        """
        d = defer.Deferred()
        self._refreshing.append(d)
        if len(self._refreshing) == 1:
            defer.ensureDeferred(self._readMap()).addBoth(self._refreshed)
        return d

    def _refreshed(self, result):
        waiting, self._refreshing = self._refreshing, []
        for d in waiting:
            d.errback(result) if isinstance(result, Failure) else d.callback(None)

    def _schedule(self, delay):
        if not self.running:
            return
        if self._timer is not None and self._timer.active():
            if self._timer.getTime() <= self.reactor.seconds() + delay:
                return
            self._timer.cancel()
        self._timer = self.reactor.callLater(delay, self._tick)

    def _tick(self):
        def failed(failure):
            if not self._mapFailing:
                self.log.warn("Reading the {name} slot map failed: {error}", name=self.name,
                              error=failure.getErrorMessage())
            self._mapFailing = True

        self._timer = None
        d = self.refresh().addCallbacks(lambda _: setattr(self, "_mapFailing", False), failed)
        d.addBoth(lambda _: self._schedule(self.refreshInterval if self.connected else self.fastRefreshInterval))

    async def _readMap(self):
        deadline = self.reactor.seconds() + self.refreshTimeout
        # Connected masters first, then the seeds and every node ever seen.
        candidates = [a for a, node in self._nodes.items() if node.connection() is not None]
        error = None
        for address in dict.fromkeys(candidates + self._known):
            remaining = deadline - self.reactor.seconds()
            if remaining <= 0 or not self.running:
                break
            try:
                d = defer.ensureDeferred(self._askMap(address))
                ranges, masters, nodes = await d.addTimeout(remaining, self.reactor)
            except Exception as e:
                error = e
                continue
            self._known.extend(a for a in nodes if a not in self._known)
            return self._install(ranges, masters)
        raise errors.Unavailable("no cluster node gave its slot map (%s)" % (error,))

    async def _askMap(self, address):
        node = self._nodes.get(address)
        conn = node.connection() if node is not None else None
        if conn is not None:
            return parseShards(await conn.execute_command("CLUSTER", "SHARDS"), address[0])
        # A node we keep no connection to: ask on a connection of its own.
        probe = await _endpoint(self.reactor, address, self.refreshTimeout).connect(_ProbeFactory())
        self._probes.add(probe)
        try:
            if self.password is not None:
                await probe.execute_command("AUTH", self.password)
            return parseShards(await probe.execute_command("CLUSTER", "SHARDS"), address[0])
        finally:
            self._probes.discard(probe)
            probe.transport.loseConnection()

    def _install(self, ranges, masters):
        slots = [None] * SLOTS
        for start, end, address in ranges:
            slots[start:end + 1] = [address] * (end - start + 1)
        changed, self._slots = slots != self._slots, slots
        self._owners = set(slots) - {None}
        masters |= self._owners
        for address in masters:
            connectionTo(self, address, CommandProtocol)
        # Forget nodes that serve nothing now (an old master after a
        # failover), or they would be reconnected to forever.
        for address in [a for a in self._nodes if a not in masters]:
            self._nodes.pop(address).disconnect()
        if changed:
            callHooks(self.log, self._onSlotsChanged)
        self._checkConnected()

    # Commands

    def execute(self, *args):
        """
        Run one command on the master of its first key (see L{commandSlot});
        a Deferred of its reply.
        """
        return self._dispatch(commandSlot(args), args)

    def executeOnKey(self, key, *args):
        """
        Run one command on the master of C{key}'s slot; a Deferred of its reply.
        """
        return self._dispatch(keySlot(key), args)

    def executeOnNode(self, address, *args):
        """
        Run one command on the master at C{address} (C{INFO}, say), without
        redirections or retries; a Deferred of its reply.
        """
        conn = connectionTo(self, address, CommandProtocol)
        if conn is None:
            return defer.fail(errors.Unavailable())
        return conn.execute_command(*args).addErrback(_translate)

    def run(self, script, keys, args):
        """
        Run a script (it has C{sha} and C{source}) on the master of its first
        key: EVALSHA, and EVAL after a NOSCRIPT; a Deferred of its reply.
        """
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        return self._dispatch(keySlot(keys[0]) if keys else None, command, script)

    def _owner(self, slot):
        return next(iter(self._owners), None) if slot is None else self._slots[slot]

    def _dispatch(self, slot, args, script=None):
        if not self.running:
            return defer.fail(errors.Unavailable())
        address = self._owner(slot)
        conn = connectionTo(self, address, CommandProtocol)
        if conn is None:
            return defer.ensureDeferred(self._retry(slot, args, script, Retry("DOWN"))).addErrback(_translate)
        # The usual case stays free of coroutines: one write, one callback.
        return self._attempt(conn, address, args, script, False).addErrback(self._recover, slot, args, script)

    def _recover(self, failure, slot, args, script):
        if failure.check(Retry):
            return defer.ensureDeferred(self._retry(slot, args, script, failure.value)).addErrback(_translate)
        return _translate(failure)

    def _attempt(self, conn, address, args, script, asking):
        d = self._send(conn, args, asking)
        if script is not None:
            def noScript(failure):
                failure.trap(txredisapi.ResponseError)
                if not str(failure.value).startswith("NOSCRIPT"):
                    return failure
                return self._send(conn, ("EVAL", script.source, *args[2:]), asking)

            d.addErrback(noScript)
        return d.addErrback(classify, address)

    def _send(self, conn, args, asking):
        if asking:
            # ASKING admits only the next command on its connection: both
            # are written now, so nothing can come between them.
            conn.execute_command("ASKING").addErrback(lambda _: None)
        return conn.execute_command(*args)

    async def _retry(self, slot, args, script, reason):
        deadline = self.reactor.seconds() + self.retryBudget
        delay, hops = self.retryDelay, 0
        while self.running:
            # Redirections are followed at once, but a few in a row mean the
            # cluster is changing under us: then wait, as for TRYAGAIN.
            hops += 1
            if reason.kind == "MOVED" and slot is not None and hops <= 5:
                self.moved(slot, reason.address)
                address, asking = reason.address, False
            elif reason.kind == "ASK" and hops <= 5:
                address, asking = reason.address, True
            else:
                remaining = deadline - self.reactor.seconds()
                if remaining <= 0:
                    break
                await task.deferLater(self.reactor, min(delay, remaining))
                delay, hops = min(delay * 2, self.maxRetryDelay), 0
                if reason.kind != "TRYAGAIN":
                    try:
                        await self.refresh()
                    except errors.Unavailable:
                        pass  # the map as it was; the next try will tell
                address, asking = self._owner(slot), False
            conn = connectionTo(self, address, CommandProtocol)
            if conn is None:
                reason = Retry("DOWN")
                continue
            try:
                return await self._attempt(conn, address, args, script, asking)
            except Retry as e:
                reason = e
        raise errors.Unavailable()
