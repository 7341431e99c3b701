"""
Tests for the frame fast paths of L{chatroom.web.websocket.WebSocketCarrier}:
whole masked frames read without autobahn, everything else (split frames,
fragments, control frames) through it, in order; replies as single
unmasked frames.
"""

import json
import os
import struct

from hypothesis import given, strategies as st
from twisted.internet.testing import StringTransport

from chatroom.web.websocket import WebSocketFactory, unmask


class Recorder:
    """
    A stand-in for the node's sessions: records what the carrier hands on.
    """

    def __init__(self):
        self.received = []
        self.lost = 0

    def open(self, link):
        self.link = link
        return self

    def objectReceived(self, obj):
        self.received.append(obj)

    def rejected(self, error, close=False):
        self.received.append(("rejected", error.code, close))

    def connectionLost(self):
        self.lost += 1


class Transport(StringTransport):
    """
    A test transport that, like Twisted's real ones, lets a protocol
    unregister a producer it never registered (autobahn does, dropping a
    connection).
    """

    def unregisterProducer(self):
        self.producer = None


#: What Chromium sends (the extension offer included).
HANDSHAKE = (
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: Upgrade\r\nPragma: no-cache\r\n"
    b"Cache-Control: no-cache\r\nUser-Agent: Mozilla/5.0\r\nUpgrade: websocket\r\n"
    b"Origin: http://127.0.0.1:8080\r\nSec-WebSocket-Version: 13\r\nAccept-Encoding: gzip, deflate, br\r\n"
    b"Accept-Language: zh-CN,zh;q=0.9\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    b"Sec-WebSocket-Protocol: chatroom.v1\r\n\r\n"
)


def opened(maxFrame=65536):
    """
    A carrier whose handshake (a browser's) is done, on a
    C{StringTransport}; the recorder and the transport.
    """
    sessions = Recorder()
    carrier = WebSocketFactory(sessions, maxFrame).buildProtocol(None)
    transport = Transport()
    carrier.makeConnection(transport)
    carrier.dataReceived(HANDSHAKE)
    response = transport.value()
    assert response.startswith(b"HTTP/1.1 101 "), response
    # Compression offered, and declined.
    assert b"Sec-WebSocket-Extensions" not in response
    assert b"Sec-WebSocket-Protocol: chatroom.v1\r\n" in response
    transport.clear()
    return carrier, sessions, transport


def clientFrame(payload, opcode=1, fin=True, key=None):
    """
    A masked client frame.
    """
    key = os.urandom(4) if key is None else key
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        head = struct.pack(">BB", first, 0x80 | n)
    elif n < 65536:
        head = struct.pack(">BBH", first, 0xFE, n)
    else:
        head = struct.pack(">BBQ", first, 0xFF, n)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def serverFrames(data):
    """
    The (opcode, payload) of the unmasked server frames in C{data}.
    """
    out = []
    while data:
        first, second = data[0], data[1]
        assert second & 0x80 == 0, "a server frame is never masked"
        n, head = second & 0x7F, 2
        if n == 126:
            (n,) = struct.unpack(">H", data[2:4])
            head = 4
        elif n == 127:
            (n,) = struct.unpack(">Q", data[2:10])
            head = 10
        assert first & 0x80, "a single frame per message"
        out.append((first & 0x0F, data[head:head + n]))
        data = data[head + n:]
    return out


def request(i, text="你好 🙂"):
    return json.dumps({"type": "send", "id": i, "to": "李四", "text": text}, ensure_ascii=False).encode()


@given(st.binary(max_size=300), st.binary(min_size=4, max_size=4))
def test_unmask(payload, key):
    """
    L{unmask} is RFC 6455's XOR with the key repeated.
    """
    assert unmask(payload, key) == bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def test_manyFramesInOneRead():
    """
    Many whole frames in one read, of every length encoding, each become
    one object, in order.
    """
    carrier, sessions, _ = opened(maxFrame=200000)
    texts = ["短", "x" * 200, "长" * 30000]
    carrier.dataReceived(b"".join(clientFrame(request(i, text)) for i, text in enumerate(texts)))
    assert [obj["text"] for obj in sessions.received] == texts


def test_bytesOneAtATime():
    """
    Frames arriving a byte at a time (autobahn's path) are the same
    objects; the fast path takes over again once a frame is done.
    """
    carrier, sessions, _ = opened()
    data = clientFrame(request(1)) + clientFrame(request(2, "x" * 300))
    for i in range(len(data)):
        carrier.dataReceived(data[i:i + 1])
    carrier.dataReceived(clientFrame(request(3)) + clientFrame(request(4)))
    assert [obj["id"] for obj in sessions.received] == [1, 2, 3, 4]


def test_fragmentsPingsAndOrder():
    """
    A fragmented message, a ping between its fragments, and whole frames
    before and after: objects in order, the ping answered with a pong.
    """
    carrier, sessions, transport = opened()
    whole = request(2)
    data = (clientFrame(request(1)) + clientFrame(whole[:10], fin=False)
            + clientFrame(b"ping!", opcode=9) + clientFrame(whole[10:], opcode=0)
            + clientFrame(request(3)))
    carrier.dataReceived(data)
    assert [obj["id"] for obj in sessions.received] == [1, 2, 3]
    assert serverFrames(transport.value()) == [(10, b"ping!")]


def test_binaryAndBadUTF8():
    """
    A binary frame is refused with C{bad_request}; text that is not UTF-8
    with C{bad_json}; neither closes.
    """
    carrier, sessions, _ = opened()
    carrier.dataReceived(clientFrame(request(1), opcode=2) + clientFrame(b'{"type": "\xff"}') + clientFrame(request(3)))
    assert sessions.received[:2] == [("rejected", "bad_request", False), ("rejected", "bad_json", False)]
    assert sessions.received[2]["id"] == 3


def test_oversizeStopsReading():
    """
    A frame over the limit is refused (then close) as soon as its header
    is read; the frames after it are not handled.
    """
    carrier, sessions, _ = opened(maxFrame=1024)
    carrier.dataReceived(clientFrame(request(1)) + clientFrame(b" " * 1025) + clientFrame(request(3)))
    assert sessions.received[0]["id"] == 1
    assert sessions.received[1:] == [("rejected", "too_large", True)]


def test_unmaskedClientFrameFails():
    """
    A client frame without a mask is a protocol error: autobahn fails the
    connection, and nothing is handed on.
    """
    carrier, sessions, transport = opened()
    payload = request(1)
    carrier.dataReceived(struct.pack(">BB", 0x81, len(payload)) + payload)
    assert sessions.received == []
    assert transport.disconnecting


def test_repliesAreSingleFrames():
    """
    Replies of every length encoding go out as one unmasked text frame.
    """
    carrier, sessions, transport = opened()
    for size in (5, 125, 126, 65535, 65536, 70000):
        sessions.link.sendPayload(b"y" * size)
    assert serverFrames(transport.value()) == [(1, b"y" * size) for size in (5, 125, 126, 65535, 65536, 70000)]


def test_sessionSeesTheTransportBelow():
    """
    The session's transport is the one under the WebSocket for what the
    limits read (unread bytes, the peer), but closes with the WebSocket
    closing handshake (1000).
    """
    from chatroom.connections import pendingBytes

    carrier, sessions, transport = opened()
    transport.dataBuffer = b"x" * 1000
    transport.offset = 200
    transport._tempDataLen = 50
    link = sessions.link
    assert pendingBytes(link.transport) == 850
    assert link.transport.getPeer() == transport.getPeer()
    link.transport.loseConnection()
    frames = serverFrames(transport.value())
    assert frames[-1][0] == 8 and frames[-1][1][:2] == struct.pack(">H", 1000)
