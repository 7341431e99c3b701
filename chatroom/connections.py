# -*- test-case-name: tests.test_limits -*-
"""
Connections as the limits see them: their remote address, what they have
not read yet, and how many there are in total and per address.
"""

import ipaddress

from twisted.logger import Logger


def isLoopback(host):
    """
    Whether C{host} (an IP address as text) is a loopback address.
    """
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def addressOf(session):
    """
    The remote IP address of C{session}'s connection, or C{None} when it has
    none (a unix socket).
    """
    try:
        return session.protocol.transport.getPeer().host
    except Exception:
        return None


def pendingBytes(transport):
    """
    How many bytes C{transport} holds that the peer has not taken yet.

    Twisted's socket transports keep them in C{dataBuffer} (from C{offset})
    and C{_tempDataBuffer}; a TLS transport keeps cleartext waiting for its
    handshake in C{_appSendBuffer} and writes the rest to the transport
    under it, which is looked at in turn.  Anything else (a test transport)
    counts as empty.
    """
    total = 0
    for _ in range(4):
        if transport is None:
            break
        pending = getattr(transport, "_appSendBuffer", None)
        if pending:
            total += sum(map(len, pending))
        data = getattr(transport, "dataBuffer", None)
        if isinstance(data, bytes):
            total += len(data) - getattr(transport, "offset", 0) + getattr(transport, "_tempDataLen", 0)
            break
        transport = getattr(transport, "transport", None)
    return total


class ConnectionLimiter:
    """
    Counts connections in total and per remote address, and refuses those
    over the limits.
    """

    log = Logger()

    def __init__(self, maxConnections, maxPerAddress, limitLoopback=False):
        self.maxConnections = maxConnections
        self.maxPerAddress = maxPerAddress
        self.limitLoopback = limitLoopback
        self.total = 0
        self._perAddress = {}
        self._admitted = {}

    def admit(self, session, address):
        """
        Count C{session}'s connection from C{address} in, if the limits
        allow.

        @return: C{None} if admitted, else the reason it is refused.
        """
        if self.maxConnections and self.total >= self.maxConnections:
            self.log.warn("Refused a connection from {address}: {limit} connections already", address=address, limit=self.maxConnections)
            return "the server is full (%d connections), try again later" % (self.maxConnections,)
        perAddress = (
            address is not None and self.maxPerAddress
            and (self.limitLoopback or not isLoopback(address))
        )
        if perAddress:
            count = self._perAddress.get(address, 0)
            if count >= self.maxPerAddress:
                self.log.warn("Refused a connection from {address}: {limit} connections from there already", address=address, limit=self.maxPerAddress)
                return "too many connections from your address (%d), try again later" % (self.maxPerAddress,)
            self._perAddress[address] = count + 1
        self.total += 1
        self._admitted[session] = address if perAddress else None
        return None

    def release(self, session):
        """
        C{session}'s connection is gone (nothing happens if it was never
        admitted).
        """
        if session not in self._admitted:
            return
        address = self._admitted.pop(session)
        self.total -= 1
        if address is not None:
            count = self._perAddress[address] - 1
            if count:
                self._perAddress[address] = count
            else:
                del self._perAddress[address]
