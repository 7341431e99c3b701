"""
Tests for L{chatroom.client.protocol}: requests, replies matched by id,
errors as exceptions, events.
"""

import pytest
from twisted.internet.error import ConnectionLost
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from chatroom import errors
from chatroom.client.protocol import ERRORS, ChatClientProtocol, errorFromReply
from chatroom.protocol import encode, frame
from tests.support.client import Wire


def connected():
    events, lost = [], []
    protocol = ChatClientProtocol(events.append, lost.append)
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, Wire(protocol, transport), events, lost


def results(d):
    out = []
    d.addBoth(out.append)
    return out


def test_every_error_code_has_its_class():
    assert set(ERRORS) == set(errors.CODES)
    for code, cls in ERRORS.items():
        assert issubclass(cls, errors.ChatError) and cls.code == code


def test_request_is_one_frame_with_an_id():
    protocol, wire, _, _ = connected()
    protocol.request("login", user="小明", password="pw")
    [sent] = wire.sent()
    assert sent == {"type": "login", "user": "小明", "password": "pw", "id": 1}
    # Non-ASCII goes out as UTF-8, not \u escapes: the server's encoder.
    protocol.request("ping")
    assert wire.transport.value() == frame(encode({"type": "ping", "id": 2}))


def test_none_fields_are_left_out():
    protocol, wire, _, _ = connected()
    protocol.request("users", limit=20, cursor=None)
    assert wire.sent() == [{"type": "users", "limit": 20, "id": 1}]


def test_reply_fires_the_matching_request():
    protocol, wire, _, _ = connected()
    first = results(protocol.request("ping"))
    second = results(protocol.request("group.list"))
    a, b = wire.sent()
    wire.ok(b, groups=["lobby"])
    assert first == [] and second == [{"type": "ok", "id": 2, "groups": ["lobby"]}]
    wire.ok(a)
    assert first == [{"type": "ok", "id": 1}]


def test_error_reply_fails_with_the_code_class():
    protocol, wire, _, _ = connected()
    got = results(protocol.request("login", user="bob", password="x"))
    [request] = wire.sent()
    wire.error(request, "auth_failed", "wrong user name or password")
    [failure] = got
    assert failure.check(errors.AuthFailed)
    assert failure.value.message == "wrong user name or password"


def test_unknown_error_code_keeps_the_code():
    error = errorFromReply({"type": "error", "code": "brand_new", "message": "new", "retry_after": 3})
    assert isinstance(error, errors.ChatError)
    assert error.code == "brand_new" and error.extra == {"retry_after": 3}


def test_extra_error_fields_are_kept():
    error = errorFromReply({"type": "error", "id": 1, "code": "rate_limited", "message": "slow", "retry_after": 2})
    assert isinstance(error, errors.RateLimited) and error.extra == {"retry_after": 2}


def test_invalid_request_is_refused_before_sending():
    protocol, wire, _, _ = connected()
    [failure] = results(protocol.request("send", to="no spaces allowed", text="hi"))
    assert failure.check(errors.BadRequest)
    [failure] = results(protocol.request("send", to="bob", text=""))
    assert failure.check(errors.BadRequest)
    [failure] = results(protocol.request("no.such.type"))
    assert failure.check(errors.UnknownType)
    assert wire.sent() == []


def test_events_go_to_the_callback():
    protocol, wire, events, _ = connected()
    event = {"type": "presence", "user": "李雷", "status": "online"}
    wire.push(event)
    assert events == [event]


def test_frames_split_byte_by_byte():
    protocol, wire, events, _ = connected()
    data = frame(encode({"type": "message", "msg_id": "1-1", "from": "a", "to": "b", "text": "你好", "ts": 1}))
    data += frame(encode({"type": "presence", "user": "a", "status": "offline"}))
    for i in range(len(data)):
        protocol.dataReceived(data[i : i + 1])
    assert [e["type"] for e in events] == ["message", "presence"]
    assert events[0]["text"] == "你好"


def test_garbage_from_the_server_is_ignored():
    protocol, wire, events, _ = connected()
    protocol.dataReceived(frame(b"\xff not json"))
    protocol.dataReceived(frame(b"[1, 2]"))
    protocol.dataReceived(frame(encode({"type": "ok", "id": 99})))
    assert events == [] and wire.transport.connected


def test_connection_lost_fails_pending_requests():
    protocol, wire, _, lost = connected()
    got = results(protocol.request("ping"))
    protocol.connectionLost(Failure(ConnectionLost()))
    [failure] = got
    assert failure.check(ConnectionLost)
    assert len(lost) == 1
    [failure] = results(protocol.request("ping"))
    assert failure.check(ConnectionLost)


def test_huge_frame_closes_the_connection():
    protocol, wire, _, _ = connected()
    protocol.dataReceived(b"\x7f\xff\xff\xff")
    assert wire.transport.disconnecting


@pytest.mark.parametrize("text", ["emoji 😀", "中文 and English", "a\nb"])
def test_text_round_trips(text):
    protocol, wire, _, _ = connected()
    protocol.request("send", to="bob", text=text, cid="c1")
    assert wire.sent()[0]["text"] == text


def test_clientKnowsEveryRequestType():
    """
    The client alone (without the server's modules) knows every request
    type of the protocol, those of 1.1 included: it checks a request before
    sending it, and refused C{group.add} as unknown when only the server
    had loaded the module that defines it.
    """
    import subprocess
    import sys

    code = ("import chatroom.client.protocol as p, chatroom.messages as m\n"
            "for t in ('group.add', 'group.directory', 'block', 'admin.ban', 'conversations', 'retract'):\n"
            "    m.requestClass(t)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
