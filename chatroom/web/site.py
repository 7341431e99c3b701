# -*- test-case-name: tests.web.test_site -*-
"""
The web port (C{--web}): the web client's files at C{/}, served by
C{twisted.web} from the package's C{static/} directory with a strict
Content-Security-Policy, and the protocol over WebSocket at C{/ws}.
"""

import os
import re

from autobahn.twisted.resource import WebSocketResource
from twisted.web import server, static

from chatroom.web.websocket import WebSocketFactory

#: The web client's files.
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")

#: An HTTP connection (not a WebSocket) silent this long is closed.
HTTP_TIMEOUT = 60

#: A Host header that may go into the policy as it is.
_HOST = re.compile(rb"\A[A-Za-z0-9.\-]+(:[0-9]{1,5})?\Z|\A\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?\Z")

#: No script but the page's own files, no inline script or handler, no
#: style attribute, no framing; the WebSocket of the same host only.
_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'%s; manifest-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

_HEADERS = {
    b"X-Content-Type-Options": b"nosniff",
    b"Referrer-Policy": b"no-referrer",
    b"X-Frame-Options": b"DENY",
    # The files change with the server: always ask (a 304 is cheap).
    b"Cache-Control": b"no-cache",
}


def contentSecurityPolicy(host):
    """
    The C{Content-Security-Policy} of a page served to C{host} (the
    request's C{Host} header, bytes or C{None}): C{'self'} and, for
    browsers that do not count C{ws:} as C{'self'}, the WebSocket URLs of
    that host.
    """
    extra = ""
    if host and _HOST.match(host):
        name = host.decode("ascii")
        extra = " ws://%s wss://%s" % (name, name)
    return (_POLICY % (extra,)).encode("ascii")


class _Files(static.File):
    """
    The static files, with their types and charset spelled out (a module
    script needs a JavaScript type) and no directory listings.
    """

    contentTypes = dict(static.File.contentTypes)
    contentTypes.update({
        ".html": "text/html; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".js": "text/javascript; charset=utf-8",
        ".svg": "image/svg+xml",
        ".txt": "text/plain; charset=utf-8",
    })

    def directoryListing(self):
        return self.childNotFound


class _WebSocketEntry(WebSocketResource):
    """
    C{/ws}: autobahn takes the connection over from C{twisted.web}; what
    the web server left on the connection is cleared so that the session
    owns it alone.
    """

    def render(self, request):
        channel = request.channel
        transport = channel.transport
        result = super().render(request)
        # The HTTP channel stays registered as the connection's producer
        # and keeps a timeout running: neither applies to a WebSocket (the
        # session has its own idle timeout, and missed messages at login
        # register themselves as the producer).
        channel.setTimeout(None)
        if transport is not None and getattr(transport, "producer", None) is channel:
            transport.unregisterProducer()
        # The channel and its request refer to each other: without this
        # they would wait for the garbage collector, a few KB for every
        # connection opened meanwhile.
        channel.requests = []
        return result


class WebSite(server.Site):
    """
    The site of C{--web}: the client at C{/}, the protocol at C{/ws}.
    Every response carries the security headers.
    """

    def __init__(self, sessions, maxFrame, origins=(), reactor=None, staticDir=STATIC):
        """
        @param sessions: the L{Sessions} of the node.
        @param maxFrame: the largest WebSocket message accepted, in bytes.
        @param origins: further page origins allowed to use C{/ws}
            (C{--web-origin}).
        """
        root = _Files(staticDir)
        root.indexNames = ["index.html"]
        #: The largest WebSocket message accepted, in bytes.
        self.maxFrame = maxFrame
        self.webSocketFactory = WebSocketFactory(sessions, maxFrame, origins, reactor=reactor)
        root.putChild(b"ws", _WebSocketEntry(self.webSocketFactory))
        kwargs = {} if reactor is None else {"reactor": reactor}
        super().__init__(root, timeout=HTTP_TIMEOUT, **kwargs)
        # No access log line per request: the server logs what matters.
        self.noisy = False

    def log(self, request):
        pass

    def getResourceFor(self, request):
        for name, value in _HEADERS.items():
            request.setHeader(name, value)
        request.setHeader(b"Content-Security-Policy", contentSecurityPolicy(request.getHeader(b"host")))
        return super().getResourceFor(request)
