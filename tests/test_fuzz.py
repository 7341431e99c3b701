"""
Property tests (hypothesis) over the path every byte from a client takes:
framing, JSON decoding, the envelope, the login check and every request's
field validation, with the real protocols, sessions and dispatcher.

Storage is a fake link that answers every command with ``unavailable``:
whatever passes validation ends there, with a documented code, and nothing
needs a Redis.  The properties: no exception escapes, nothing is logged as
a failure, no traceback reaches the client, every reply is ``ok`` or an
``error`` with a code from the protocol (never ``internal``), replies come
one per request in request order, and the connection still answers a
``ping`` afterwards, unless a frame was too large (then it is closing).
"""

import json
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure

from chatroom import errors
from chatroom.controls import BYE_REASONS
from chatroom.messages import REQUESTS
from chatroom.store.redis import RedisStore
from tests.support.fakes import UnitNode, connectFrames, connectLines, frame

MAX_FRAME = 16384

FUZZ = settings(
    max_examples=300, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


class Harness:
    """
    A chat service on a Redis store that never connects (so every command
    fails with C{unavailable}), whose logged failures are collected.
    """

    def __init__(self):
        self.reactor = MemoryReactorClock()
        store = RedisStore(self.reactor, "fuzz", path="/nonexistent/redis.sock")
        self.service = UnitNode(MAX_FRAME, self.reactor, store)
        self.failures = []
        self.protocols = []

    def __enter__(self):
        globalLogPublisher.addObserver(self._observe)
        return self

    def __exit__(self, *exc):
        globalLogPublisher.removeObserver(self._observe)
        # Closed, so that the connection limits count it out.
        for protocol in self.protocols:
            protocol.connectionLost(Failure(ConnectionDone()))
        self.protocols = []
        self.failures = []

    def _observe(self, event):
        if event.get("log_failure") is not None or event.get("isError"):
            self.failures.append(event)

    def feed(self, protocol, data):
        """
        Give C{data} to C{protocol} and run what it scheduled for now.
        """
        protocol.dataReceived(data)
        for _ in range(5):
            self.reactor.advance(0)

    def connect(self, lines=False, user=None):
        # A fresh connection, with every rate limit's bucket full again.
        self.reactor.advance(3600)
        protocol, transport = (connectLines if lines else connectFrames)(self.service)
        if user is not None:
            protocol.session.user = user
        self.protocols.append(protocol)
        return protocol, transport


harness = Harness()


def parseFrames(data):
    """
    Every frame written, decoded; the written bytes must be whole frames of
    JSON objects.
    """
    out = []
    while data:
        assert len(data) >= 4
        (length,) = struct.unpack(">I", data[:4])
        assert len(data) >= 4 + length
        out.append(json.loads(data[4:4 + length].decode("utf-8")))
        data = data[4 + length:]
    return out


def checkReplies(transport, failures):
    """
    The written output holds only valid replies and C{bye} events; return
    the replies.
    """
    data = transport.value()
    assert b"Traceback" not in data and b'File "' not in data
    replies = []
    for reply in parseFrames(data):
        assert isinstance(reply, dict)
        if reply["type"] == "bye":
            # Said before a close the server makes on purpose.
            assert reply["reason"] in BYE_REASONS, reply
            continue
        replies.append(reply)
        assert reply["type"] in ("ok", "error"), reply
        if reply["type"] == "error":
            assert reply["code"] in errors.CODES, reply
            assert reply["code"] != "internal", reply
            assert isinstance(reply["message"], str) and reply["message"]
    assert failures == [], failures
    return replies


def stillUsable(protocol, transport, replies):
    """
    Unless a frame was too large (the connection then closes), a ping gets
    its ok.
    """
    if any(r.get("code") == "too_large" for r in replies):
        assert transport.disconnecting
        return
    if transport.disconnecting:
        # Only a logout closes a connection on purpose.
        assert any(r["type"] == "ok" for r in replies)
        return
    transport.clear()
    harness.feed(protocol, frame({"type": "ping", "id": "last-ping"}))
    assert parseFrames(transport.value()) == [{"type": "ok", "id": "last-ping"}]


# Values to put anywhere: JSON of every shape and awkward strings.

surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
# Lone surrogates: valid in JSON escapes, never in UTF-8.
withSurrogate = st.builds("{}{}{}".format, st.text(max_size=5), surrogates, st.text(max_size=5))
texts = st.one_of(
    st.text(max_size=40),
    withSurrogate,
    st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=40),
    st.sampled_from([
        "", " ", "你好", "👋🏽", "e\u0301", "\u0000", "\ud800", "a\udfffb", "lobby", "alice", "1-1",
        "0-0", "99999999999999999999-1", "字" * 33, "x" * 1025, "字" * 8193, "💬" * 8192, "a" * (MAX_FRAME + 1),
        "\u202e", "\ufeff", "\n", "\r\n", "null", "{}",
    ]),
)
scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(), st.sampled_from([0, -1, 1, 2**63 - 1, 2**63, -2**63, 10**30, 1000, 1001, 200, 201]),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([1.0, 0.5, -0.0, 1e308]),
    texts,
)
jsonValues = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=12,
)


def deep(depth, kind):
    """
    JSON text nested C{depth} deep (lists or objects).
    """
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def encodeValue(obj, asciiOnly):
    """
    JSON bytes for C{obj}; lone surrogates are escaped (C{asciiOnly}) or
    written as invalid UTF-8.
    """
    if asciiOnly:
        return json.dumps(obj, ensure_ascii=True).encode("ascii")
    return json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")


names = st.one_of(
    st.sampled_from(["alice", "小明", "lobby", "a_b.c-d", "Zoë", "用户_1"]),
    st.text(alphabet=st.characters(whitelist_categories=("L", "Nd")), min_size=1, max_size=32),
)
msgIds = st.builds("{}-{}".format, st.integers(0, 2**40), st.integers(0, 99))
nonEmpty = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)

#: Mostly valid values of every field, so that requests also get past
#: validation.
validValues = {
    "user": names, "to": names, "with": names, "group": names,
    "password": nonEmpty, "old": nonEmpty, "new": nonEmpty, "text": nonEmpty, "name": nonEmpty, "cursor": nonEmpty,
    "cid": st.one_of(nonEmpty, st.integers(-2**62, 2**62)),
    "limit": st.integers(1, 200), "before": msgIds, "upto": msgIds,
    "title": nonEmpty, "prefix": names, "visibility": st.sampled_from(["public", "private"]),
    "history": st.sampled_from(["shared", "joined"]), "role": st.sampled_from(["owner", "admin", "member"]),
    "msg_id": msgIds, "read_receipts": st.booleans(),
}

fieldNames = sorted({key for cls in REQUESTS.values() for _, key, _, _ in cls._fields} | {"id", "type"})


@st.composite
def requests(draw):
    """
    A request of a known type: half of them with every field drawn from its
    valid values but one at most (so that they reach the handlers), the
    others with fields drawn at random, each present or not, and a few
    fields of other types.
    """
    wireType = draw(st.sampled_from(sorted(REQUESTS)))
    obj = {"type": wireType}
    nearlyValid = draw(st.booleans())
    fields = [key for _, key, _, _ in REQUESTS[wireType]._fields]
    spoilt = draw(st.sampled_from(fields + [None])) if fields else None
    for key in fields:
        if nearlyValid and key != spoilt:
            obj[key] = draw(validValues[key])
        elif nearlyValid:
            obj[key] = draw(st.one_of(withSurrogate, texts, scalars, jsonValues))
        elif draw(st.booleans()) or draw(st.booleans()):
            obj[key] = draw(jsonValues)
    if not nearlyValid:
        for key in draw(st.lists(st.sampled_from(fieldNames), max_size=2)):
            if key != "type":
                obj[key] = draw(jsonValues)
    if draw(st.booleans()):
        obj["id"] = draw(st.one_of(st.integers(0, 2**70), texts, jsonValues))
    return obj


@FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes(data):
    """
    Any bytes at all on the main port: only whole, valid replies come out.
    """
    with harness:
        protocol, transport = harness.connect()
        harness.feed(protocol, data)
        checkReplies(transport, harness.failures)


@FUZZ
@given(payloads=st.lists(st.binary(max_size=200), min_size=1, max_size=5))
def test_random_frame_payloads(payloads):
    """
    Well-framed garbage: one error (or ok) per frame, and the connection
    still answers.
    """
    with harness:
        protocol, transport = harness.connect()
        for payload in payloads:
            harness.feed(protocol, frame(payload))
        replies = checkReplies(transport, harness.failures)
        assert len(replies) == len(payloads)
        stillUsable(protocol, transport, replies)


@FUZZ
@given(value=jsonValues, asciiOnly=st.booleans())
def test_random_json(value, asciiOnly):
    """
    Any JSON value as a frame.
    """
    with harness:
        protocol, transport = harness.connect()
        harness.feed(protocol, frame(encodeValue(value, asciiOnly)))
        replies = checkReplies(transport, harness.failures)
        assert len(replies) == 1
        stillUsable(protocol, transport, replies)


@FUZZ
@given(depth=st.integers(min_value=1, max_value=MAX_FRAME // 2 - 2), kind=st.sampled_from(["list", "object"]))
def test_deep_nesting(depth, kind):
    """
    Nesting as deep as a frame allows is refused or accepted, never a crash.
    """
    with harness:
        protocol, transport = harness.connect()
        harness.feed(protocol, frame(deep(min(depth, MAX_FRAME // 6), kind).encode()))
        replies = checkReplies(transport, harness.failures)
        assert len(replies) == 1
        stillUsable(protocol, transport, replies)


@FUZZ
@given(request=requests(), loggedIn=st.booleans(), asciiOnly=st.booleans())
def test_random_fields_for_every_request_type(request, loggedIn, asciiOnly):
    """
    Every request type with random field values, logged in or not: a
    documented error (or ok), with the request's id when it has a usable one.
    """
    with harness:
        protocol, transport = harness.connect(user="fuzzer" if loggedIn else None)
        payload = encodeValue(request, asciiOnly)
        harness.feed(protocol, frame(payload))
        replies = checkReplies(transport, harness.failures)
        assert len(replies) == 1
        rid = request.get("id")
        if replies[0].get("code") not in ("bad_json", "too_large"):
            if (type(rid) is int and abs(rid) < 2**63) or (
                    isinstance(rid, str) and len(rid) <= 64 and not any("\ud800" <= c <= "\udfff" for c in rid)):
                assert replies[0]["id"] == rid
            else:
                assert "id" not in replies[0]
        stillUsable(protocol, transport, replies)


@FUZZ
@given(
    batch=st.lists(st.one_of(requests(), jsonValues), min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=10),
    lines=st.booleans(),
)
def test_random_splits_keep_replies_in_order(batch, cuts, lines):
    """
    A stream of requests (with ids 0..n-1) cut into random pieces: one reply
    per request, in request order, on the main port and the debug port.
    """
    with harness:
        protocol, transport = harness.connect(lines=lines, user="fuzzer")
        stream = b""
        for i, obj in enumerate(batch):
            if isinstance(obj, dict):
                obj = dict(obj, id=i)
                if obj.get("type") == "logout":
                    obj["type"] = "ping"
            else:
                obj = {"type": "ping", "id": i, "junk": obj}
            payload = json.dumps(obj, ensure_ascii=True).encode()
            stream += payload + b"\r\n" if lines else frame(payload)
        points = sorted({c % (len(stream) + 1) for c in cuts})
        for start, end in zip([0] + points, points + [len(stream)]):
            harness.feed(protocol, stream[start:end])
        data = transport.value()
        assert b"Traceback" not in data
        if lines:
            replies = [json.loads(line) for line in data.decode("utf-8").split("\r\n") if line]
        else:
            replies = parseFrames(data)
        assert harness.failures == []
        sizes = [r.get("code") for r in replies]
        if "too_large" in sizes:
            return
        assert [r.get("id") for r in replies] == list(range(len(batch)))
        for reply in replies:
            assert reply["type"] == "ok" or (reply["code"] in errors.CODES and reply["code"] != "internal")


def test_lone_surrogates_in_every_field():
    """
    Every field of every request type, given a lone surrogate (escaped in
    the JSON) in an otherwise valid request: a documented error, logged in
    or not.
    """
    example = {
        "user": "alice", "to": "bob", "with": "bob", "group": "lobby", "password": "pw", "old": "pw", "new": "pw2", "text": "你好",
        "name": "Alice", "cursor": "a", "cid": "c", "limit": 1, "before": "1-0", "upto": "1-0",
        "title": "标题", "prefix": "l", "visibility": "public", "history": "shared", "role": "admin",
        "msg_id": "1-0", "read_receipts": True,
    }
    for wireType, cls in sorted(REQUESTS.items()):
        for _, key, _, _ in cls._fields:
            request = {"type": wireType, "id": 7}
            for _, other, _, _ in cls._fields:
                request[other] = example[other]
            if wireType in ("history", "ack", "retract"):
                del request["with"]
            if wireType == "typing":
                del request["to"]
            request[key] = "a\ud800b"
            for user in (None, "fuzzer"):
                with harness:
                    protocol, transport = harness.connect(user=user)
                    harness.feed(protocol, frame(encodeValue(request, True)))
                    replies = checkReplies(transport, harness.failures)
                    assert [r["type"] for r in replies] == ["error"], (request, replies)
                    stillUsable(protocol, transport, replies)
