"""
Tests for L{chatroom.debug}: the JSON-lines debug port.
"""

import json

import pytest

from tests.support.fakes import connectLines, makeService, readLines


@pytest.fixture
def conn():
    """
    A debug-port connection (limit 1024 bytes) on a C{StringTransport}.
    """
    return connectLines(makeService(maxFrame=1024))


def test_lineEndings(conn):
    """
    C{\\n} and C{\\r\\n} both end a request; replies end with C{\\r\\n}.
    """
    proto, transport = conn
    proto.dataReceived(b'{"type": "ping", "id": 1}\n{"type": "ping", "id": 2}\r\n')
    assert transport.value().count(b"\r\n") == 2
    assert readLines(transport) == [{"type": "ok", "id": 1}, {"type": "ok", "id": 2}]


def test_bytesOneAtATime(conn):
    """
    A line arriving a byte at a time is answered when its end arrives.
    """
    proto, transport = conn
    data = '{"type": "ping", "id": "张三"}\r\n'.encode("utf-8")
    for byte in data[:-1]:
        proto.dataReceived(bytes([byte]))
        assert transport.value() == b""
    proto.dataReceived(data[-1:])
    assert readLines(transport) == [{"type": "ok", "id": "张三"}]


def test_blankLinesIgnored(conn):
    """
    Pressing Enter on an empty line is not an error.
    """
    proto, transport = conn
    proto.dataReceived(b"\n\r\n   \n")
    assert transport.value() == b""


def test_sameErrorsAsMainPort(conn):
    """
    Bad JSON, a non-object and an unknown type get the main port's codes;
    the connection stays usable.
    """
    proto, transport = conn
    proto.dataReceived(
        b"hello\n"
        b"\xff\xfe\n"
        b'{"x": NaN}\n'
        b"[1, 2]\n"
        b'{"type": 3}\n'
        b'{"type": "dance", "id": "d"}\n'
        b'{"type": "users", "id": "u"}\n'
        b'{"type": "ping", "id": "p"}\n'
    )
    replies = readLines(transport)
    assert [r.get("code") for r in replies] == [
        "bad_json", "bad_json", "bad_json", "bad_request", "bad_request", "unknown_type", "not_logged_in", None,
    ]
    assert replies[-1] == {"type": "ok", "id": "p"}
    assert not transport.disconnecting


def test_repliesAreOneLineEach(conn):
    """
    A reply never spans lines, even when it echoes text with newlines.
    """
    proto, transport = conn
    proto.dataReceived(json.dumps({"type": "ping", "id": "a\nb\r\nc"}).encode() + b"\n")
    value = transport.value()
    assert value.count(b"\n") == 1
    assert readLines(transport) == [{"type": "ok", "id": "a\nb\r\nc"}]


def test_lineAtLimit(conn):
    """
    A line of exactly the limit is accepted; its C{\\r} does not count.
    """
    proto, transport = conn
    base = b'{"type": "ping", "id": 1, "p": ""}'
    line = base[:-2] + b"x" * (1024 - len(base)) + b'"}'
    assert len(line) == 1024
    proto.dataReceived(line + b"\r\n")
    assert readLines(transport) == [{"type": "ok", "id": 1}]


def test_overLimitByOne(conn):
    """
    A line of one byte over the limit is refused with either line end.
    """
    base = b'{"type": "ping", "id": 1, "p": ""}'
    line = base[:-2] + b"x" * (1025 - len(base)) + b'"}'
    for end in (b"\n", b"\r\n"):
        proto, transport = connectLines(makeService(maxFrame=1024))
        proto.dataReceived(line + end)
        assert [r.get("code", r["type"]) for r in readLines(transport)] == ["too_large", "bye"]
        assert transport.disconnecting


def test_tooLong(conn):
    """
    A line over the limit gets C{too_large} and the connection is closed.
    """
    proto, transport = conn
    proto.dataReceived(b'{"type": "ping", "pad": "' + b"x" * 2000 + b'"}\n{"type": "ping"}\n')
    assert [r.get("code", r["type"]) for r in readLines(transport)] == ["too_large", "bye"]
    assert transport.disconnecting


def test_tooLongWithoutNewline(conn):
    """
    An endless line is refused once it passes the limit, before its end.
    """
    proto, transport = conn
    proto.dataReceived(b"x" * 1025)
    assert transport.value() == b""
    proto.dataReceived(b"x")
    assert [r.get("code", r["type"]) for r in readLines(transport)] == ["too_large", "bye"]
    assert transport.disconnecting


def test_halfCloseAnswersThenCloses(conn):
    """
    C{nc} closing its input: everything sent is answered, then the
    connection is closed.
    """
    proto, transport = conn
    proto.dataReceived(b'{"type": "ping", "id": 1}\n{"type": "ping", "id": 2}\n')
    proto.readConnectionLost()
    assert readLines(transport) == [{"type": "ok", "id": 1}, {"type": "ok", "id": 2}]
    assert transport.disconnecting
