# -*- test-case-name: tests.store.test_sentinel -*-
"""
Following a Redis master through Sentinel failovers.
"""

import txredisapi
from twisted.internet import defer
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.logger import Logger
from zope.interface import implementer


@implementer(IStreamClientEndpoint)
class SentinelEndpoint:
    """
    Connects to the current master of a Redis replicated under Sentinel:
    before every connection attempt it asks the Sentinels where the master
    is, so that after a failover the link reconnects to the new one.
    """

    log = Logger()

    #: Seconds to wait for a Sentinel to name a master that is up; after
    #: that the connection attempt fails and is retried with backoff.
    discoveryTimeout = 2

    def __init__(self, reactor, sentinels, master):
        self._reactor = reactor
        self.sentinels = sentinels
        self.master = master
        self._sentinel = None
        self.current = None

    def connect(self, protocolFactory):
        if self._sentinel is None:
            self._sentinel = txredisapi.Sentinel(self.sentinels)
            self._sentinel.discovery_timeout = self.discoveryTimeout
        d = self._sentinel.discover_master(self.master)

        def found(address):
            if address != self.current:
                self.log.info("Sentinel names {address} the master of {master}",
                              address="%s:%d" % address, master=self.master)
                self.current = address
            return HostnameEndpoint(self._reactor, address[0], address[1], timeout=5).connect(protocolFactory)

        return d.addCallback(found)

    def stop(self):
        """
        Close the connections to the Sentinels.
        """
        sentinel, self._sentinel = self._sentinel, None
        if sentinel is None:
            return defer.succeed(None)
        return sentinel.disconnect().addErrback(lambda f: None)
