# -*- test-case-name: tests.test_cluster -*-
"""
Knowing which nodes are alive.
"""

from twisted.application.internet import TimerService
from twisted.internet import defer
from twisted.logger import Logger

DEFAULT_NODE_TIMEOUT = 15


class NodeMonitor(TimerService):
    """
    Keeps this node's liveness fresh, learns which nodes exist, and counts
    out the users of nodes that stopped beating: within C{timeout} seconds
    (plus one beat) of a node's death its users are offline and their
    neighbours told so.
    """

    log = Logger()

    def __init__(self, clock, store, relay, presence, timeout=DEFAULT_NODE_TIMEOUT):
        """
        @param store: the L{IChatStore} (its C{nodes} are beaten, reaped).
        @param relay: the L{Relay}, whose C{nodes} this keeps.
        @param presence: the L{Presence} told of users counted out.
        """
        self.store = store
        self.relay = relay
        self.presence = presence
        self.timeout = timeout
        super().__init__(max(0.5, timeout / 3.0), self._beatInBackground)
        self.clock = clock

    def _beatInBackground(self):
        d = defer.ensureDeferred(self.beat())
        d.addErrback(self._failed)
        return d

    def _failed(self, failure):
        self.log.warn("Node heartbeat failed: {error}", error=failure.getErrorMessage())

    async def beat(self):
        """
        One heartbeat: refresh liveness, learn the nodes, reap dead ones.
        """
        if not self.store.connected:
            return
        nodes = self.store.nodes
        known = set(await nodes.heartbeat(self.timeout)) | {self.relay.node}
        for node in known - self.relay.nodes:
            self.log.info("Node {node} is part of the cluster", node=node)
        self.relay.nodes = known
        dead, users = await nodes.reap(self.presence.maxGroup)
        if dead:
            self.log.warn("Counted out {users} users of {nodes} dead node(s)", users=len(users), nodes=dead)
            for user, groups in users:
                self.presence.announceOffline(user, groups)

    def goodbye(self):
        """
        Leave the cluster cleanly (this node's users are counted out).
        """
        return defer.ensureDeferred(self.store.nodes.goodbye())
