# -*- test-case-name: tests.test_limits -*-
"""
Connections as the limits see them: their remote address, what they have
not read yet, and how many there are in total and per address.
"""

import ipaddress

from chatroom import securitylog



def _ip(host):
    # An IP address object for C{host}, without a zone (C{fe80::1%eth0}),
    # an IPv4-mapped IPv6 address as its IPv4 address; None if not one.
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except (ValueError, AttributeError):
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def isLoopback(host):
    """
    Whether C{host} (an IP address as text) is a loopback address
    (C{127.0.0.0/8}, C{::1}, or C{::ffff:127.x.y.z}).
    """
    ip = _ip(host)
    return ip is not None and ip.is_loopback


#: The prefix length by which IPv6 addresses are grouped: one /64 is what
#: a single host or home gets (RFC 6177), and it may pick any address in it.
IPV6_PREFIX = 64


def addressKey(host):
    """
    What the per-address limits count C{host} under: an IPv4 address as
    itself, an IPv6 address by its /64 network (C{"2001:db8:1:2::/64"}),
    since one host may use every address of its /64; an IPv4-mapped IPv6
    address as the IPv4 address.  C{None} stays C{None}, and text that is
    not an IP address is its own key.
    """
    if host is None:
        return None
    ip = _ip(host)
    if ip is None:
        return host
    if ip.version == 6:
        return str(ipaddress.IPv6Network((int(ip), IPV6_PREFIX), strict=False))
    return str(ip)


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
    Counts connections in total and per remote address, and those of them
    not logged in yet (in total and per address), and refuses those over
    the limits.  Addresses are counted by L{addressKey} (IPv6 by /64).
    """

    def __init__(self, maxConnections, maxPerAddress, limitLoopback=False, maxPreLogin=0, maxPreLoginPerAddress=0):
        """
        @param maxConnections: connections in total (0: no limit).
        @param maxPerAddress: connections per address (0: no limit).
        @param limitLoopback: whether the per-address limits apply to
            loopback addresses too.
        @param maxPreLogin: connections not logged in yet, in total (0: no
            limit).
        @param maxPreLoginPerAddress: the same, per address (0: no limit).
        """
        self.maxConnections = maxConnections
        self.maxPerAddress = maxPerAddress
        self.limitLoopback = limitLoopback
        self.maxPreLogin = maxPreLogin
        self.maxPreLoginPerAddress = maxPreLoginPerAddress
        self.total = 0
        #: Connections admitted that have not logged in yet.
        self.preLogin = 0
        self._perAddress = {}
        self._preLoginPerAddress = {}
        # session -> its address key (None when no per-address limit applies).
        self._admitted = {}
        self._waiting = {}

    def admit(self, session, address):
        """
        Count C{session}'s connection from C{address} in, as not logged in
        yet, if the limits allow.

        @return: C{None} if admitted, else the reason it is refused.
        """
        if self.maxConnections and self.total >= self.maxConnections:
            securitylog.connectionRefused(address, "max-connections", self.maxConnections)
            return "the server is full (%d connections), try again later" % (self.maxConnections,)
        if self.maxPreLogin and self.preLogin >= self.maxPreLogin:
            securitylog.connectionRefused(address, "max-prelogin", self.maxPreLogin)
            return "too many connections waiting to log in (%d), try again later" % (self.maxPreLogin,)
        key = None
        if address is not None and (self.limitLoopback or not isLoopback(address)):
            key = addressKey(address)
            if self.maxPerAddress and self._perAddress.get(key, 0) >= self.maxPerAddress:
                securitylog.connectionRefused(address, "max-per-address", self.maxPerAddress)
                return "too many connections from your address (%d), try again later" % (self.maxPerAddress,)
            if self.maxPreLoginPerAddress and self._preLoginPerAddress.get(key, 0) >= self.maxPreLoginPerAddress:
                securitylog.connectionRefused(address, "max-prelogin-per-address", self.maxPreLoginPerAddress)
                return ("too many connections from your address waiting to log in (%d), log in on those first"
                        % (self.maxPreLoginPerAddress,))
            _add(self._perAddress, key, 1)
            _add(self._preLoginPerAddress, key, 1)
        self.total += 1
        self.preLogin += 1
        self._admitted[session] = key
        self._waiting[session] = key
        return None

    def loggedIn(self, session):
        """
        C{session} has logged in: it no longer counts as waiting to.
        """
        if session not in self._waiting:
            return
        key = self._waiting.pop(session)
        self.preLogin -= 1
        if key is not None:
            _add(self._preLoginPerAddress, key, -1)

    def release(self, session):
        """
        C{session}'s connection is gone (nothing happens if it was never
        admitted).
        """
        if session not in self._admitted:
            return
        self.loggedIn(session)
        key = self._admitted.pop(session)
        self.total -= 1
        if key is not None:
            _add(self._perAddress, key, -1)


def _add(counts, key, n):
    # Add n to counts[key], dropping keys that reach 0.
    count = counts.get(key, 0) + n
    if count:
        counts[key] = count
    else:
        del counts[key]
