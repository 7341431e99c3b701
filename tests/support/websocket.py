"""
A test client for C{/ws} of the web port (autobahn's Twisted client), with
the interface of L{tests.support.wire.TestClient}, and a chat server that
also listens with the web port.
"""

import json

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, wrapClientTLS

from chatroom.protocol import DEFAULT_MAX_FRAME
from chatroom.web.site import WebSite
from tests.support.wire import TestClient


class WebSocketTestClient(WebSocketClientProtocol, TestClient):
    """
    One WebSocket connection: a JSON object per text message.

    @ivar opened: fires with the handshake's response once it is done
        (errback if refused).
    @ivar closeCode: the close code the server sent, once closed.
    """

    def __init__(self):
        WebSocketClientProtocol.__init__(self)
        TestClient.__init__(self)
        self.opened = defer.Deferred()
        self.response = None
        self.closeCode = None
        self.closeReason = None
        self.binary = []

    def connectionMade(self):
        WebSocketClientProtocol.connectionMade(self)

    def onConnect(self, response):
        self.response = response

    def onOpen(self):
        self.connected = True
        self.opened.callback(self.response)

    def onMessage(self, payload, isBinary):
        if isBinary:
            self.binary.append(payload)
            return
        self.stringReceived(payload)

    def onClose(self, wasClean, code, reason):
        self.closeCode = code
        self.closeReason = reason
        if not self.opened.called:
            self.opened.errback(ConnectionError("handshake refused: %s %s" % (code, reason)))

    def connectionLost(self, reason):
        WebSocketClientProtocol.connectionLost(self, reason)
        TestClient.connectionLost(self, reason)

    def sendObject(self, obj):
        self.sendMessage(json.dumps(obj, ensure_ascii=False).encode("utf-8"), False)

    def sendText(self, data):
        """
        Send C{data} (bytes) as one text message, unchecked.
        """
        self.sendMessage(data, False)

    def sendBinary(self, data):
        """
        Send C{data} as one binary message.
        """
        self.sendMessage(data, True)

    def close(self):
        if self.connected and self.transport is not None:
            self.transport.loseConnection()
        return self.closed


async def connectWebSocket(port, origin=None, protocols=None, host="127.0.0.1", path="/ws", headers=None, tls=None):
    """
    A L{WebSocketTestClient} connected to C{ws://host:port/path} (with
    C{tls}, client TLS options, C{wss://}) whose handshake is done (raises
    C{ConnectionError} if it was refused).
    """
    scheme = "ws" if tls is None else "wss"
    factory = WebSocketClientFactory("%s://%s:%d%s" % (scheme, host, port, path), origin=origin,
                                     protocols=protocols, headers=headers)
    factory.protocol = WebSocketTestClient
    factory.setProtocolOptions(openHandshakeTimeout=5)
    endpoint = TCP4ClientEndpoint(reactor, host, port)
    if tls is not None:
        endpoint = wrapClientTLS(tls, endpoint)
    client = await endpoint.connect(factory)
    await client.opened
    return client


async def listenWeb(chat, origins=(), maxFrame=DEFAULT_MAX_FRAME):
    """
    Make the L{tests.support.servers.ChatServer} C{chat} listen with the
    web port too (stopped with it); its port number.
    """
    site = WebSite(chat.service.sessions, maxFrame, origins, reactor=reactor)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    chat.listening.append(port)
    return port.getHost().port
