# -*- test-case-name: tests.web.test_websocket -*-
"""
The WebSocket carrier of sessions (C{/ws} of C{--web}): one JSON object per
text message, handed to a L{Session} like a main-port frame or a debug-port
line, on autobahn's Twisted support.

This module only carries: it checks the handshake (C{Origin}, the
C{chatroom.v1} subprotocol), refuses binary and oversize messages with the
protocol's errors, and maps the session's way of closing a connection onto
the WebSocket closing handshake.
"""

import inspect
import struct

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.protocol import TrafficStats
from autobahn.websocket.types import ConnectionDeny
from twisted.internet.interfaces import ISSLTransport
from twisted.logger import Logger

from chatroom.errors import BadJSON, BadRequest, TooLarge
from chatroom.liveness import tuneTransport
from chatroom.protocol import decode

#: The subprotocol a client may ask for; the server picks it when asked.
SUBPROTOCOL = "chatroom.v1"

OPEN = WebSocketServerProtocol.STATE_OPEN

_SHARED_STATS = TrafficStats()

_HEADER7 = struct.Struct(">BB").pack
_HEADER16 = struct.Struct(">BBH").pack
_HEADER64 = struct.Struct(">BBQ").pack
_LENGTH16 = struct.Struct(">H")
_LENGTH64 = struct.Struct(">Q")


def unmask(payload, key):
    """
    C{payload} XORed with the 4-byte masking C{key} repeated (RFC 6455
    5.3), as one big-integer XOR: a microsecond for a chat message.
    """
    length = len(payload)
    if not length:
        return b""
    repeated = (key * (length // 4 + 1))[:length]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")).to_bytes(length, "little")


#: WebSocket close codes (RFC 6455 7.4.1).
CLOSE_NORMAL = 1000
CLOSE_TOO_BIG = 1009


class OriginPolicy:
    """
    Which pages may open C{/ws}: the page's own origin (the scheme of the
    connection and its C{Host} header) and those given with
    C{--web-origin}.

    A handshake without C{Origin} is not from a browser page (a bot, the
    tests, a native client): the check exists against other sites' pages
    using a visitor's browser (cross-site WebSocket hijacking), and browsers
    always send it, so it is let through.
    """

    def __init__(self, allowed=()):
        """
        @param allowed: further origins, as C{scheme://host[:port]}.
        """
        self.allowed = frozenset(origin.rstrip("/").lower() for origin in allowed)

    def permits(self, origin, host, secure):
        """
        Whether a page of C{origin} may open a session on a connection made
        to C{host} (its C{Host} header), over TLS if C{secure}.
        """
        if not origin:
            # autobahn gives an absent header as ""
            return True
        origin = origin.rstrip("/").lower()
        if origin in self.allowed:
            return True
        own = "%s://%s" % ("https" if secure else "http", (host or "").lower())
        return bool(host) and origin == own


_NOTHING = object()

#: Autobahn's per-connection flags and slots, at the values they have on an
#: open, idle connection; they are class attributes of the carrier, so that
#: a connection holds only those that changed.
_IDLE_DEFAULTS = {
    "autoPingPending": None, "autoPingPendingCall": None, "autoPingTimeoutCall": None,
    "autoPingPendingSent": None, "autoPingPendingSeq": 0,
    "closeHandshakeTimeoutCall": None, "openHandshakeTimeoutCall": None,
    "closedByMe": False, "droppedByMe": False, "failedByMe": False, "current_frame": None,
    "inside_message": False, "localCloseCode": None, "localCloseReason": None,
    "remoteCloseCode": None, "remoteCloseReason": None, "trackedTimings": None, "triggered": False,
    "wasClean": False, "wasCloseHandshakeTimeout": False, "wasMaxFramePayloadSizeExceeded": False,
    "wasMaxMessagePayloadSizeExceeded": False, "wasNotCleanReason": None, "wasOpenHandshakeTimeout": False,
    "wasServerConnectionDropTimeout": False, "wasServingFlashSocketPolicyFile": False,
    "_perMessageCompress": None, "data": b"", "send_state": WebSocketServerProtocol.SEND_STATE_GROUND,
}

#: What only the opening handshake reads (autobahn's observable events,
#: fired only by the onMessageEnd the carrier replaces; the transport
#: details, read by _onOpen; the handshake's request and response; the
#: queue of chopped or synchronous sends, never made here; the UTF-8
#: validator, off).
_HANDSHAKE_ONLY = frozenset({
    "http_headers", "http_request_data", "http_response_data", "http_request_host", "http_request_params",
    "http_request_path", "http_request_uri", "http_status_line", "websocket_origin", "websocket_protocols",
    "_wskey", "_results", "_valid_events", "_transport_details", "send_queue", "utf8validator",
})


class WebSocketCarrier(WebSocketServerProtocol):
    """
    One WebSocket connection carrying one session.

    The session sees a L{SessionLink} (C{sendPayload} and a transport) in
    place of this protocol, so that its way of closing a connection is the
    WebSocket closing handshake rather than a dropped socket.
    """

    session = None
    _refused = False
    locals().update(_IDLE_DEFAULTS)
    # What _HANDSHAKE_ONLY drops reads as nothing, should anything look.
    locals().update(dict.fromkeys(_HANDSHAKE_ONLY - {"send_queue"}))
    send_queue = ()

    def dataReceived(self, data):
        """
        Take the whole, unfragmented, masked text and binary frames at the
        start of C{data} (what a client sends nearly always) without
        autobahn; hand the rest, and everything while autobahn holds part
        of a frame, to autobahn's parser.

        Autobahn's path costs about 50 us a message (a debug line's
        arguments formatted, a masker allocated per frame, a Deferred
        fired per message); this one costs a few, which keeps a WebSocket
        delivery within 1.3 times a main-port one (docs/performance.rst).
        """
        if self.state != OPEN or self.data or self.current_frame is not None or self._refused:
            self._dataReceived(data)
            return
        pos, end, limit = 0, len(data), self.factory.maxFrame
        while end - pos >= 6:
            first, second = data[pos], data[pos + 1]
            # FIN, no extension bit, text or binary; and masked.
            if (first != 0x81 and first != 0x82) or second < 0x80:
                break
            length, start = second & 0x7F, pos + 2
            if length == 126:
                if end - start < 6:
                    break
                (length,) = _LENGTH16.unpack_from(data, start)
                start += 2
            elif length == 127:
                if end - start < 12:
                    break
                (length,) = _LENGTH64.unpack_from(data, start)
                start += 8
            if length > limit or end - start - 4 < length:
                # Oversize (refused by onMessageFrameBegin) or incomplete.
                break
            key, start = data[start:start + 4], start + 4
            pos = start + length
            self.onMessage(unmask(data[start:pos], key), first == 0x82)
            if self.state != OPEN or self._refused:
                break
        if pos < end:
            self._dataReceived(data[pos:] if pos else data)

    def onConnect(self, request):
        policy = self.factory.origins
        secure = ISSLTransport.providedBy(self.transport)
        # The Host header as sent: autobahn's request.host drops the port.
        host = request.headers.get("host", "").strip()
        if not policy.permits(request.origin, host, secure):
            self.factory.log.info("Refused a WebSocket handshake from {peer}: origin {origin!r} is not allowed",
                                  peer=request.peer, origin=request.origin)
            raise ConnectionDeny(ConnectionDeny.FORBIDDEN, "origin not allowed")
        if SUBPROTOCOL in request.protocols:
            return SUBPROTOCOL
        return None

    def onOpen(self):
        self._compact()
        tuneTransport(self.transport)
        self.session = self.factory.openSession(SessionLink(self))

    def _compact(self):
        # An open connection holds on to some sixty attributes autobahn set
        # for the handshake or as flags still at their initial values: 3 KB
        # each, for thousands of idle connections.  Those at their initial
        # value are dropped (the class holds the same value, see
        # _IDLE_DEFAULTS), the handshake's leftovers too, and the rest is
        # copied into a dict of their size.
        self.trafficStats = _SHARED_STATS
        kept = {}
        for name, value in self.__dict__.items():
            if name in _HANDSHAKE_ONLY:
                continue
            default = _IDLE_DEFAULTS.get(name, _NOTHING)
            if default is not _NOTHING and type(value) is type(default) and value == default:
                continue
            kept[name] = value
        self.__dict__ = kept

    def onMessageFrameBegin(self, length):
        # The limit is checked on each frame's announced length, before its
        # payload is read: a client cannot make us buffer past it.
        if self._refused:
            return
        if self.message_data_total_length + length > self.factory.maxFrame:
            self._refuse(TooLarge("message of %d bytes or more is over the limit of %d"
                                  % (self.message_data_total_length + length, self.factory.maxFrame)))
            return
        super().onMessageFrameBegin(length)

    def onMessageFrameData(self, payload):
        if not self._refused:
            super().onMessageFrameData(payload)

    def onMessageFrameEnd(self):
        if not self._refused:
            super().onMessageFrameEnd()
        else:
            self.frame_data = None

    def onMessageEnd(self):
        # Not autobahn's: it fires a "message" signal through a Deferred
        # per message, for listeners this server has none of.
        if not self._refused:
            payload = b"".join(self.message_data)
            self.message_data = None
            self.onMessage(payload, self.message_is_binary)

    def onMessage(self, payload, isBinary):
        session = self.session
        if session is None or self._refused:
            return
        if isBinary:
            session.rejected(BadRequest("binary messages are not accepted: send each request as JSON text"))
            return
        try:
            obj = decode(payload)
        except BadJSON as e:
            session.rejected(e)
        else:
            session.objectReceived(obj)

    def _refuse(self, error):
        # As on the main port: nothing after an oversize message is read;
        # the session answers it in its turn, then closes.
        self._refused = True
        self.transport.pauseProducing()
        if self.session is not None:
            self.session.rejected(error, close=True)
        else:
            self.sendCloseFrame(code=CLOSE_TOO_BIG, isReply=False)

    def onClose(self, wasClean, code, reason):
        if self.session is not None:
            session, self.session = self.session, None
            session.connectionLost()

    def sendPayload(self, payload):
        """
        Send one encoded JSON object as a text message.
        """
        # One unfragmented, unmasked frame written at once: what
        # sendMessage does, without its ten microseconds of bookkeeping.
        # Autobahn itself only ever sends whole control frames, so frames
        # never interleave.
        if self.state != OPEN:
            return
        length = len(payload)
        if length < 126:
            header = _HEADER7(0x81, length)
        elif length < 65536:
            header = _HEADER16(0x81, 126, length)
        else:
            header = _HEADER64(0x81, 127, length)
        self.transport.write(header + payload)


class SessionLink:
    """
    What a L{Session} holds as its protocol for a WebSocket connection:
    C{sendPayload} and a L{WebSocketTransport}.
    """

    __slots__ = ("transport", "sendPayload")

    def __init__(self, carrier):
        self.transport = WebSocketTransport(carrier)
        self.sendPayload = carrier.sendPayload


class WebSocketTransport:
    """
    The transport a session sees: the TCP (or TLS) transport under the
    WebSocket, but closing with the WebSocket closing handshake.

    Everything else (the peer, pausing, producers, C{dataBuffer} for
    L{chatroom.connections.pendingBytes}) is the transport's own.
    """

    __slots__ = ("carrier",)

    # What pendingBytes asks of every transport, on every write: not held
    # here, so that it goes straight on to the transport below (through
    # __getattr__, a failed lookup costs an exception: 15 us a delivery).
    _appSendBuffer = None
    dataBuffer = None

    def __init__(self, carrier):
        self.carrier = carrier

    @property
    def transport(self):
        """
        The transport under the WebSocket (what C{pendingBytes} looks at).
        """
        return self.carrier.transport

    def __getattr__(self, name):
        return getattr(self.carrier.transport, name)

    def loseConnection(self):
        """
        Close with the closing handshake (C{1009} after an oversize
        message); autobahn drops the socket if the peer does not answer.
        """
        carrier = self.carrier
        # sendCloseFrame: sendClose only takes the codes left to
        # applications, and 1009 (message too big) is the protocol's own.
        carrier.sendCloseFrame(code=CLOSE_TOO_BIG if carrier._refused else CLOSE_NORMAL, isReply=False)

    def abortConnection(self):
        """
        Drop the socket at once (a stalled or idle client).
        """
        self.carrier.dropConnection(abort=True)


class WebSocketFactory(WebSocketServerFactory):
    """
    The factory of C{/ws}: each connection, once its handshake is done,
    gets a L{Session} of the node's L{Sessions}.
    """

    protocol = WebSocketCarrier
    log = Logger()

    def __init__(self, sessions, maxFrame, origins=(), reactor=None):
        """
        @param sessions: the L{Sessions} of the node.
        @param maxFrame: the largest message accepted, in bytes.
        @param origins: further page origins allowed (C{--web-origin}).
        """
        super().__init__(reactor=reactor)
        self.sessions = sessions
        self.maxFrame = maxFrame
        self.origins = OriginPolicy(origins)
        self.setProtocolOptions(
            # Checked by decoding: orjson refuses invalid UTF-8 (bad_json).
            utf8validateIncoming=False,
            # A backstop; the carrier refuses oversize messages itself
            # (with too_large) before autobahn would.
            maxFramePayloadSize=maxFrame + 1, maxMessagePayloadSize=maxFrame + 1,
            # A plain GET of /ws is an error, not autobahn's status page.
            webStatus=False,
            # Replies and events are small and should leave at once.
            tcpNoDelay=True,
            # The session's idle timeout covers silent clients; autobahn's
            # closing handshake is bounded by its own timeout.  The opening
            # handshake arrives whole from twisted.web (which times out
            # slow requests): no timer of autobahn's for it.
            closeHandshakeTimeout=2, openHandshakeTimeout=0,
            # No compression: text is small, and compression costs CPU and
            # memory on every connection (and invites CRIME-like attacks).
            perMessageCompressionAccept=lambda offers: None,
        )

        # The options as class attributes of this factory's protocol:
        # autobahn copies onto each connection only those its class does
        # not have, and fifty of them cost every connection 2 KB.
        options = {}
        for name in WebSocketCarrier.CONFIG_ATTRS:
            value = getattr(self, name)
            # A function on a class would become a method, called with the
            # connection as its first argument (perMessageCompressionAccept).
            options[name] = staticmethod(value) if inspect.isfunction(value) else value
        self.protocol = type("WebSocketCarrier", (WebSocketCarrier,), options)

    def openSession(self, link):
        """
        Called by a carrier once its handshake is done.
        """
        return self.sessions.open(link)
