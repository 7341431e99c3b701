"""
Tests for L{chatroom.protocol}: length-prefixed JSON framing on the main
port, and the envelope errors a client gets for a bad frame.
"""

import json
import struct

import pytest

from chatroom import protocol
from chatroom.errors import BadJSON
from tests.support.fakes import connectFrames, frame, makeService, readFrames


@pytest.fixture
def conn():
    """
    A main-port connection (limit 1024 bytes) on a C{StringTransport}.
    """
    return connectFrames(makeService(maxFrame=1024))


def send(conn, obj):
    proto, transport = conn
    proto.dataReceived(frame(obj))
    return readFrames(transport)


def paddedPing(rid, size):
    """
    A ping frame payload of exactly C{size} bytes (padded by an unknown field).
    """
    base = json.dumps({"type": "ping", "id": rid, "pad": ""}).encode()
    payload = json.dumps({"type": "ping", "id": rid, "pad": "x" * (size - len(base))}).encode()
    assert len(payload) == size
    return payload


# Framing.


def test_bytesOneAtATime(conn):
    """
    Frames arriving one byte per read are each answered once, when complete,
    in order.
    """
    proto, transport = conn
    first = frame({"type": "ping", "id": "一"})
    data = first + frame({"type": "ping", "id": 2})
    replies = []
    for i, byte in enumerate(data):
        proto.dataReceived(bytes([byte]))
        got = readFrames(transport)
        if i in (len(first) - 1, len(data) - 1):
            assert len(got) == 1
        else:
            assert got == []
        replies.extend(got)
    assert replies == [{"type": "ok", "id": "一"}, {"type": "ok", "id": 2}]


def test_nothingBeforeFrameComplete(conn):
    """
    Nothing is answered until the last byte of a frame arrives.
    """
    proto, transport = conn
    data = frame({"type": "ping", "id": 7})
    for byte in data[:-1]:
        proto.dataReceived(bytes([byte]))
        assert transport.value() == b""
    proto.dataReceived(data[-1:])
    assert readFrames(transport) == [{"type": "ok", "id": 7}]


def test_manyFramesInOneRead(conn):
    """
    Many frames in one read are all answered, in order.
    """
    proto, transport = conn
    proto.dataReceived(b"".join(frame({"type": "ping", "id": i}) for i in range(50)))
    assert readFrames(transport) == [{"type": "ok", "id": i} for i in range(50)]


def test_prefixSplitAcrossReads(conn):
    """
    A length prefix split across reads, with the rest of the frame and the
    start of the next one in the second read, is reassembled.
    """
    proto, transport = conn
    data = frame({"type": "ping", "id": "a"}) + frame({"type": "ping", "id": "b"})
    proto.dataReceived(data[:2])
    proto.dataReceived(data[2:len(data) - 3])
    assert readFrames(transport) == [{"type": "ok", "id": "a"}]
    proto.dataReceived(data[len(data) - 3:])
    assert readFrames(transport) == [{"type": "ok", "id": "b"}]


def test_exactlyAtLimit(conn):
    """
    A frame whose payload is exactly the limit is accepted.
    """
    proto, transport = conn
    proto.dataReceived(frame(paddedPing(1, 1024)))
    assert readFrames(transport) == [{"type": "ok", "id": 1}]
    assert not transport.disconnecting


def test_oversizeFrame(conn):
    """
    A frame one byte over the limit gets C{too_large}, then the connection
    is closed; what follows it is not handled.
    """
    proto, transport = conn
    proto.dataReceived(frame(paddedPing(1, 1025)) + frame({"type": "ping", "id": 2}))
    replies = readFrames(transport)
    assert [r.get("code") for r in replies] == ["too_large", None]
    assert replies[1] == {"type": "bye", "reason": "too_large"}
    assert "1024" in replies[0]["message"]
    assert transport.disconnecting


def test_oversizeHeaderAlone(conn):
    """
    The header of a huge frame is enough: C{too_large} is sent at once,
    without waiting for (or buffering) its body.
    """
    proto, transport = conn
    proto.dataReceived(struct.pack(">I", 2**32 - 1))
    assert [r.get("code", r["type"]) for r in readFrames(transport)] == ["too_large", "bye"]
    assert transport.disconnecting
    # A client that keeps writing gets nothing more.
    proto.dataReceived(b"x" * 10000)
    assert readFrames(transport) == []


def test_oversizeAfterGoodFrames(conn):
    """
    Frames before an oversize one in the same read are answered first.
    """
    proto, transport = conn
    proto.dataReceived(frame({"type": "ping", "id": 1}) + struct.pack(">I", 5000))
    assert [r["type"] for r in readFrames(transport)] == ["ok", "error", "bye"]
    assert transport.disconnecting


def test_defaultLimit():
    """
    The default limit is 65,536 bytes.
    """
    proto, transport = connectFrames(makeService(maxFrame=protocol.DEFAULT_MAX_FRAME))
    proto.dataReceived(frame(paddedPing(1, 65536)))
    assert readFrames(transport) == [{"type": "ok", "id": 1}]
    proto.dataReceived(frame(paddedPing(2, 65537)))
    assert [r.get("code", r["type"]) for r in readFrames(transport)] == ["too_large", "bye"]


# Envelope errors.


@pytest.mark.parametrize("payload", [
    b"\xff\xfe{}",
    b'{"type": "ping", "id": "\xc3"}',
    b'{"type": "ping"',
    b"",
    b"ping",
    b'{"type": "ping", "x": NaN}',
    b'{"type": "ping", "x": Infinity}',
    b'{"type": "ping", "x": -Infinity}',
    b"[" * 100000,
], ids=["not-utf8", "truncated-utf8", "truncated-json", "empty", "word", "nan", "inf", "-inf", "deep"])
def test_badJSON(payload):
    """
    A frame that is not valid UTF-8 JSON gets C{bad_json}, and the
    connection stays usable.
    """
    proto, transport = connectFrames(makeService(maxFrame=200000))
    proto.dataReceived(frame(payload) + frame({"type": "ping", "id": 2}))
    replies = readFrames(transport)
    assert replies[0]["type"] == "error"
    assert replies[0]["code"] == "bad_json"
    assert "id" not in replies[0]
    assert replies[1] == {"type": "ok", "id": 2}
    assert not transport.disconnecting


@pytest.mark.parametrize("obj, field", [
    ([], None),
    ([{"type": "ping"}], None),
    ("ping", None),
    (1, None),
    (None, None),
    ({}, "type"),
    ({"type": 1}, "type"),
    ({"type": None}, "type"),
    ({"type": ["ping"]}, "type"),
    ({"type": "ping", "id": "x" * 65}, "id"),
    ({"type": "ping", "id": 1.5}, "id"),
    ({"type": "ping", "id": True}, "id"),
    ({"type": "ping", "id": [1]}, "id"),
    ({"type": "ping", "id": {"a": 1}}, "id"),
    ({"type": "ping", "id": 2**63}, "id"),
])
def test_badRequest(conn, obj, field):
    """
    Valid JSON that is not an object, has no string C{type} or an id that
    cannot be echoed gets C{bad_request} naming the field; the connection
    stays usable.
    """
    proto, transport = conn
    proto.dataReceived(frame(obj) + frame({"type": "ping", "id": "next"}))
    error, ok = readFrames(transport)
    assert error["type"] == "error"
    assert error["code"] == "bad_request"
    if field is not None:
        assert "'%s'" % (field,) in error["message"]
    assert "id" not in error
    assert ok == {"type": "ok", "id": "next"}


def test_missingTypeEchoesId(conn):
    """
    A request with a valid id but no type gets C{bad_request} with its id.
    """
    assert send(conn, {"id": 1}) == [
        {"type": "error", "id": 1, "code": "bad_request", "message": "missing field 'type'"}
    ]


def test_nonStringTypeNamed(conn):
    """
    A C{type} that is there but not a string is named as such.
    """
    assert send(conn, {"id": 1, "type": 7}) == [
        {"type": "error", "id": 1, "code": "bad_request", "message": "field 'type' must be a string"}
    ]


def test_loneSurrogateId(conn):
    """
    An id holding a lone surrogate (valid JSON, but not encodable) is
    refused rather than echoed.
    """
    proto, transport = conn
    proto.dataReceived(frame(b'{"type": "ping", "id": "\\ud800"}'))
    (error,) = readFrames(transport)
    assert error["code"] == "bad_request"


def test_unknownType(conn):
    """
    An unknown type gets C{unknown_type}, with the id echoed.
    """
    proto, transport = conn
    assert send(conn, {"type": "teleport", "id": 5}) == [
        {"type": "error", "id": 5, "code": "unknown_type", "message": "unknown request type 'teleport'"}
    ]
    assert send(conn, {"type": "", "id": "e"})[0]["code"] == "unknown_type"
    # A type is not an attribute name or a prefix.
    assert send(conn, {"type": "__init__"})[0]["code"] == "unknown_type"
    assert send(conn, {"type": "PING"})[0]["code"] == "unknown_type"


def test_unknownTypeMessageBounded(conn):
    """
    The message of C{unknown_type} does not echo an arbitrarily long type.
    """
    (error,) = send(conn, {"type": "x" * 900})
    assert error["code"] == "unknown_type"
    assert len(error["message"]) < 200


@pytest.mark.parametrize("rid", ["abc", "消息-1 🎉", "", "x" * 64, 0, -1, 2**63 - 1, -(2**63) + 1])
def test_idEcho(conn, rid):
    """
    String ids up to 64 characters and integers are echoed as given.
    """
    assert send(conn, {"type": "ping", "id": rid}) == [{"type": "ok", "id": rid}]


def test_idEchoedOnErrors(conn):
    """
    Errors carry the request's id too.
    """
    (error,) = send(conn, {"type": "users", "id": "u1"})
    assert error["id"] == "u1"
    assert error["code"] == "not_logged_in"


def test_noIdNoIdInReply(conn):
    """
    A request without id (or with a null one) gets a reply without id.
    """
    assert send(conn, {"type": "ping"}) == [{"type": "ok"}]
    assert send(conn, {"type": "ping", "id": None}) == [{"type": "ok"}]


def test_unknownFieldsIgnored(conn):
    """
    Unknown fields do not matter.
    """
    assert send(conn, {"type": "ping", "id": 1, "extra": {"deep": [1, 2]}}) == [{"type": "ok", "id": 1}]


def test_repliesAreCompactUTF8(conn):
    """
    Replies are UTF-8 JSON with non-ASCII text written as is.
    """
    proto, transport = conn
    proto.dataReceived(frame({"type": "ping", "id": "张三"}))
    assert "张三".encode("utf-8") in transport.value()


def test_decode():
    """
    L{protocol.decode} accepts UTF-8 JSON and raises L{BadJSON} otherwise.
    """
    assert protocol.decode('{"a": "😀"}'.encode()) == {"a": "😀"}
    for bad in (b"\x80", b"NaN", b"{", b'"\xed\xa0\x80"'):
        with pytest.raises(BadJSON):
            protocol.decode(bad)


def test_encodeRoundTrip():
    """
    L{protocol.encode} and L{protocol.frame} produce what a client decodes.
    """
    obj = {"type": "message", "text": "你好 👋\n\"quoted\""}
    payload = protocol.encode(obj)
    data = protocol.frame(payload)
    assert struct.unpack(">I", data[:4])[0] == len(payload)
    assert json.loads(data[4:].decode("utf-8")) == obj


def test_halfCloseAnswersThenCloses(conn):
    """
    When the client closes its sending side, what it sent is answered and
    then the connection is closed.
    """
    proto, transport = conn
    proto.dataReceived(frame({"type": "ping", "id": 1}))
    proto.readConnectionLost()
    assert readFrames(transport) == [{"type": "ok", "id": 1}]
    assert transport.disconnecting


def test_connectionLostForgetsSession(conn):
    """
    After the connection is lost, late data is ignored.
    """
    from twisted.internet.error import ConnectionDone
    from twisted.python.failure import Failure

    proto, transport = conn
    service = proto.factory
    assert len(service.sessions) == 1
    proto.connectionLost(Failure(ConnectionDone()))
    assert len(service.sessions) == 0
    proto.stringReceived(b'{"type": "ping"}')
    assert transport.value() == b""
