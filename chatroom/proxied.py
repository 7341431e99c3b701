# -*- test-case-name: tests.test_proxied -*-
"""
Connections through a load balancer that speaks the PROXY protocol (v1 or
v2, HAProxy's C{send-proxy}): a port described C{haproxy:tcp:...}.

Twisted's own C{haproxy:} wrapper starts the wrapped protocol as soon as
the TCP connection is made, before the header has said who the client
is: the connection limits would count every client as the load balancer.
Here the protocol starts only once the header is read, so that the
limits, the login throttle and the security log see the client's address;
a connection that sends no valid header within L{HEADER_TIMEOUT} seconds
is closed without a session ever being opened.
"""

import ipaddress

import attr
from twisted.internet.address import IPv6Address
from twisted.internet.endpoints import _WrapperServerEndpoint, serverFromString
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
# Twisted exports only proxyEndpoint; the wrapper and parsers are what it is made of.
from twisted.protocols.haproxy._wrapper import HAProxyProtocolWrapper, HAProxyWrappingFactory
from twisted.protocols.haproxy._exceptions import InvalidProxyHeader
from twisted.protocols.haproxy._v1parser import V1Parser
from twisted.protocols.haproxy._v2parser import V2Parser
from zope.interface import directlyProvides, providedBy

#: The prefix of a port description whose connections start with a PROXY
#: header.
PREFIX = "haproxy:"

#: Seconds a connection may take to send its PROXY header.
HEADER_TIMEOUT = 10.0

#: Bytes of a v2 header read before it is parsed: its 12-byte signature,
#: version and command, family, and the length of the rest.
_SNIFF = 16


def splitProxied(description):
    """
    C{(proxied, inner description)}: whether C{description} is an
    C{haproxy:} port, and the description it wraps.
    """
    if description.startswith(PREFIX):
        return True, description[len(PREFIX):]
    return False, description


class ProxiedProtocol(HAProxyProtocolWrapper):
    """
    Reads the PROXY header, then connects the wrapped protocol to a
    transport whose C{getPeer()} is the client's address.
    """

    log = Logger()

    _timeout = None
    _started = False

    def makeConnection(self, transport):
        # As ProtocolWrapper's, less the wrapped protocol's start.
        directlyProvides(self, providedBy(transport))
        Protocol.makeConnection(self, transport)
        self.factory.registerProtocol(self)
        self._buffer = b""
        self._timeout = self.factory.clock.callLater(self.factory.headerTimeout, self._noHeader)

    def _noHeader(self):
        self._timeout = None
        self.log.info("No PROXY header from {peer} within {seconds} s; closed",
                      peer=self.transport.getPeer().host, seconds=self.factory.headerTimeout)
        self.transport.abortConnection()

    def dataReceived(self, data):
        if self._started:
            return self.wrappedProtocol.dataReceived(data)
        if self._parser is None:
            self._buffer += data
            data = self._buffer
            if (len(data) < _SNIFF and V2Parser.PREFIX.startswith(data[:12])) or (
                    len(data) < len(V1Parser.PROXYSTR) and V1Parser.PROXYSTR.startswith(data)):
                # The start of a header, split before it says which: wait.
                return None
            self._buffer = b""
            if data[:12] == V2Parser.PREFIX and data[12] & 0xF0 == 0x20:
                self._parser = V2Parser()
            elif data.startswith(V1Parser.PROXYSTR):
                self._parser = V1Parser()
            else:
                return self._refuse("not a PROXY header")
        try:
            info, remaining = self._parser.feed(data)
        except InvalidProxyHeader:
            return self._refuse("an invalid PROXY header")
        if info is None:
            return None
        self._proxyInfo = _normalised(info)
        self._started = True
        self._cancelTimeout()
        self.wrappedProtocol.makeConnection(self)
        if remaining and self.connected:
            self.wrappedProtocol.dataReceived(remaining)
        return None

    def _cancelTimeout(self):
        if self._timeout is not None and self._timeout.active():
            self._timeout.cancel()
        self._timeout = None

    def _refuse(self, what):
        self._cancelTimeout()
        self.log.info("{what} from {peer}; closed", what=what.capitalize(), peer=self.transport.getPeer().host)
        self.transport.abortConnection()

    def connectionLost(self, reason):
        self._cancelTimeout()
        self.factory.unregisterProtocol(self)
        if self._started:
            self.wrappedProtocol.connectionLost(reason)


def _normalised(info):
    # Twisted's v2 parser writes IPv6 addresses uncompressed
    # (2001:db8:0:0:0:0:0:7): give them as a socket would (2001:db8::7), so
    # that the logs name one address one way.
    source = info.source
    if isinstance(source, IPv6Address):
        try:
            host = str(ipaddress.ip_address(source.host))
        except ValueError:
            return info
        info = attr.evolve(info, source=IPv6Address(source.type, host, source.port))
    return info


class ProxiedFactory(HAProxyWrappingFactory):
    """
    Wraps a factory's protocols in L{ProxiedProtocol}.
    """

    protocol = ProxiedProtocol

    def __init__(self, wrappedFactory, clock=None, headerTimeout=HEADER_TIMEOUT):
        super().__init__(wrappedFactory)
        if clock is None:
            from twisted.internet import reactor as clock
        self.clock = clock
        self.headerTimeout = headerTimeout


def proxiedEndpoint(reactor, description):
    """
    The listening endpoint of C{haproxy:<description>} whose connections
    start with a PROXY header (read by L{ProxiedProtocol}).
    """
    _, inner = splitProxied(description)
    return _WrapperServerEndpoint(serverFromString(reactor, inner),
                                  lambda factory: ProxiedFactory(factory, clock=reactor))
