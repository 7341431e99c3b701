# -*- test-case-name: tests.store.test_routing -*-
"""
Connections to the nodes of a Redis Cluster, one per node, made lazily and
kept up with backoff, for L{chatroom.store.routing.ClusterLink} (commands)
and L{chatroom.store.sharded.ClusterSubscriber} (sharded pub/sub).
"""

import txredisapi
from twisted.internet import defer, protocol
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint

from chatroom.store.connection import CommandProtocol
from chatroom.store.scripts import SCRIPTS


class _NodeFactory(txredisapi.RedisFactory):
    """
    The connection to one cluster node, reconnecting with backoff; tells its
    owner (a L{ClusterLink} or L{ClusterSubscriber}) when it comes and goes.
    """

    initialDelay = 0.1
    maxDelay = 2

    def __init__(self, owner, address, protocol):
        super().__init__("%s:%d" % address, None, 1, isLazy=True, password=owner.password, convertNumbers=False)
        self.owner, self.address, self.protocol = owner, address, protocol

    def addConnection(self, conn):
        if isinstance(conn, txredisapi.SubscriberProtocol) or self.disconnectCalled or not conn.connected:
            return self._added(conn)
        # Scripts are loaded before the connection is used, as RedisLink
        # does: a NOSCRIPT fallback would reorder the commands.
        loads = [conn.execute_command("SCRIPT", "LOAD", script.source) for script in SCRIPTS.values()]
        d = defer.gatherResults(loads, consumeErrors=True)
        d.addCallbacks(lambda _: self._added(conn), lambda _: conn.transport.loseConnection())

    def _added(self, conn):
        super().addConnection(conn)
        if conn in self.pool:
            self.owner._connectionUp(self, conn)

    def delConnection(self, conn):
        super().delConnection(conn)
        self.owner._connectionDown(self, conn)

    def connection(self):
        """
        The usable connection, or C{None}.
        """
        return next((conn for conn in self.pool if conn.connected), None)


def _endpoint(reactor, address, timeout=2):
    # HostnameEndpoint reports a refused connection only after its Happy
    # Eyeballs delay (0.3 s); nodes are usually known by IP address.
    host, port = address
    if isIPAddress(host):
        return TCP4ClientEndpoint(reactor, host, port, timeout)
    if isIPv6Address(host):
        return TCP6ClientEndpoint(reactor, host, port, timeout)
    return HostnameEndpoint(reactor, host, port, timeout=timeout)


class _ProbeFactory(protocol.Factory):
    """
    One connection to ask a node for the slot map, made without a word in
    the log.
    """

    noisy = False

    def buildProtocol(self, addr):
        return CommandProtocol(convertNumbers=False)


def connectionTo(owner, address, protocolClass):
    """
    The usable connection of C{owner} to the node at C{address} (made on
    first use), or C{None} while there is none.
    """
    # Connections are made lazily: a redirection may name a node that the
    # map does not list yet.
    if address is None or not owner.running:
        return None
    node = owner._nodes.get(address)
    if node is None:
        node = owner._nodes[address] = _NodeFactory(owner, address, protocolClass)
        node.startConnecting(_endpoint(owner.reactor, address))
    return node.connection()


def callHooks(log, hooks, *args):
    """
    Call every hook with C{args}; one that fails is logged, not raised.
    """
    for f in hooks:
        try:
            f(*args)
        except Exception:
            log.failure("Hook {hook!r} failed", hook=f)
