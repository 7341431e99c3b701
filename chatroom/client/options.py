# -*- test-case-name: tests.client.test_options -*-
"""
Command-line options of chatroom-client, and the endpoint they describe.
"""

import sys

from twisted.internet import endpoints, ssl
from twisted.python import usage

DEFAULT_PORT = 8889


class Options(usage.Options):
    """
    chatroom-client [--host HOST] [--port PORT] [--tls [--cafile PEM |
    --trust-cert PEM] [--server-name NAME]]
    """

    synopsis = "chatroom-client [options]"
    longdesc = "An interactive terminal client for a chatroom server."

    optParameters = [
        ["host", "H", "localhost", "server host name or address"],
        ["port", "p", DEFAULT_PORT, "server port", int],
        ["cafile", None, None, "with --tls: PEM file of the certificate authorities to trust "
         "(default: the system's)"],
        ["trust-cert", None, None, "with --tls: PEM file of the server's own (self-signed) "
         "certificate, trusted as its root"],
        ["server-name", None, None, "with --tls: the name the server's certificate must carry "
         "(default: --host)"],
        ["connect", None, None, "a Twisted client endpoint description instead of --host/--port, "
         "e.g. tcp:host=example.org:port=8889 or unix:path=/run/chat.sock"],
        ["log", None, None, "write the client's log to this file (for debugging)"],
    ]
    optFlags = [
        ["tls", None, "connect with TLS"],
        ["plain", None, "plain line input and output, even on a terminal"],
    ]

    def postOptions(self):
        if not 0 < self["port"] < 65536:
            raise usage.UsageError("--port must be 1-65535")
        if self["cafile"] and self["trust-cert"]:
            raise usage.UsageError("give --cafile or --trust-cert, not both")
        if (self["cafile"] or self["trust-cert"] or self["server-name"]) and not self["tls"]:
            raise usage.UsageError("--cafile, --trust-cert and --server-name need --tls")
        if self["connect"] and (self["tls"] or self["host"] != "localhost" or self["port"] != DEFAULT_PORT):
            raise usage.UsageError("--connect replaces --host, --port and --tls")

    @property
    def serverName(self):
        """
        How the server is named to the user.
        """
        if self["connect"]:
            return self["connect"]
        return "%s:%d" % (self["host"], self["port"])


def _readCertificates(path):
    """
    Every certificate in a PEM file.
    """
    with open(path, "rb") as f:
        data = f.read()
    marker = b"-----END CERTIFICATE-----"
    blocks = [b + marker for b in data.split(marker) if b"-----BEGIN CERTIFICATE-----" in b]
    if not blocks:
        raise usage.UsageError("%s holds no PEM certificate" % (path,))
    return [ssl.Certificate.loadPEM(block) for block in blocks]


def tlsOptions(config):
    """
    The client TLS options (an C{IOpenSSLClientConnectionCreator}) for
    C{--tls}: the server's certificate must name C{--server-name} (or the
    host) and chain to C{--cafile}, to C{--trust-cert}, or to the platform's
    trusted authorities.
    """
    path = config["cafile"] or config["trust-cert"]
    trustRoot = None
    if path:
        trustRoot = ssl.trustRootFromCertificates(_readCertificates(path))
    hostname = config["server-name"] or config["host"]
    return ssl.optionsForClientTLS(hostname, trustRoot=trustRoot)


def endpoint(reactor, config):
    """
    The client endpoint the options describe.
    """
    if config["connect"]:
        return endpoints.clientFromString(reactor, config["connect"])
    tcp = endpoints.HostnameEndpoint(reactor, config["host"], config["port"])
    if config["tls"]:
        return endpoints.wrapClientTLS(tlsOptions(config), tcp)
    return tcp


def parse(argv):
    """
    Parse C{argv} (without the program name); on a usage error print it and
    exit with status 2.
    """
    config = Options()
    try:
        config.parseOptions(argv)
    except usage.UsageError as e:
        print("%s\n%s" % (config, e), file=sys.stderr)
        raise SystemExit(2)
    return config
