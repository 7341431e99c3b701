# -*- test-case-name: tests.test_proxied -*-
"""
The listening ports: a service for each endpoint description (plain,
shared with C{SO_REUSEPORT} by C{--workers}, behind a PROXY-protocol load
balancer with C{haproxy:}), and the warning for a port that takes
passwords in clear text from beyond this machine.
"""

from twisted.application import strports
from twisted.application.internet import StreamServerEndpointService
from twisted.internet.endpoints import _parse
from twisted.logger import Logger

from chatroom.connections import isLoopback
from chatroom.proxied import ProxiedFactory, proxiedEndpoint, splitProxied
from chatroom.workers import SharedPortService

log = Logger()

#: Endpoint types that carry the protocol in clear text over IP.
_CLEARTEXT = frozenset({"tcp", "tcp6"})


def portService(reactor, description, factory, shared=False):
    """
    The service that listens on C{description} with C{factory}: shared
    with other processes (C{SO_REUSEPORT}) if C{shared}; an C{haproxy:}
    description's connections start with a PROXY header.
    """
    proxied, inner = splitProxied(description)
    if shared:
        if proxied:
            factory = ProxiedFactory(factory, clock=reactor)
        return SharedPortService(reactor, inner, factory)
    if not proxied:
        return strports.service(description, factory, reactor=reactor)
    service = StreamServerEndpointService(proxiedEndpoint(reactor, description), factory)
    # As strports.service: a port that cannot listen fails its start.
    service._raiseSynchronously = True
    return service


def cleartextExposure(description):
    """
    Why C{description} takes clear text from beyond this machine, or
    C{None}: a C{tcp:} (or C{tcp6:}, or C{haproxy:tcp:}) port on every
    interface or on one that is not loopback.  C{ssl:}, C{unix:} and
    loopback ports are fine.
    """
    _, inner = splitProxied(description)
    try:
        args, kwargs = _parse(inner)
    except Exception:
        return None
    if not args or args[0] not in _CLEARTEXT:
        return None
    interface = kwargs.get("interface")
    if not interface:
        return "listens on every interface without TLS"
    if not isLoopback(interface):
        return "listens on %s without TLS" % (interface,)
    return None


def warnIfCleartext(option, description):
    """
    Log a warning if the port C{description} (of option C{--option})
    takes passwords in clear text from other machines.
    """
    reason = cleartextExposure(description)
    if reason is not None:
        log.warn("--{option} {description} {reason}: passwords and messages cross the network in clear "
                 "text; use an ssl: endpoint, or listen on 127.0.0.1 behind a TLS proxy",
                 option=option, description=description, reason=reason)
