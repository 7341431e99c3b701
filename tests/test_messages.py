"""
Tests for L{chatroom.messages}: every request type's field validation, and
L{chatroom.errors}.
"""

import unicodedata

import pytest

from chatroom import errors
from chatroom.errors import BadRequest
from chatroom.messages import REQUESTS, parseRequest


def parse(wireType, **fields):
    return parseRequest(REQUESTS[wireType], dict(fields, type=wireType))


def refused(wireType, field, **fields):
    """
    Assert that the request is refused with C{bad_request} naming C{field}.
    """
    with pytest.raises(BadRequest) as info:
        parse(wireType, **fields)
    assert info.value.code == "bad_request"
    assert "'%s'" % (field,) in info.value.message
    return info.value


# Names (users and groups follow the same rule).

GOOD_NAMES = [
    "alice", "张三", "Ünïcødé", "user_1.name-2", "हिन्दी", "١٢٣", "Ωμέγα", "a" * 32, "李" * 32,
    "_", ".", "-", "Ꭰ", "ñ",
]
BAD_NAMES = [
    "", "a b", " alice", "alice ", "a:b", "a/b", "a@b", "a+b", "a,b", "a!b", "a'b", 'a"b', "😀",
    "a\nb", "a\tb", "a\x00b", "，", "a" * 33, "李" * 33, "\u200b", "a\ud800", "\udfff",
    "ⅷ",  # a letter-like number (Nl), not a decimal digit
    "½",
]


#: Every request field that holds a user or group name, with the other
#: fields its request needs.
NAME_FIELDS = [
    ("register", "user", {"password": "pw"}),
    ("login", "user", {"password": "pw"}),
    ("send", "to", {"text": "hi"}),
    ("group.create", "group", {}),
    ("group.join", "group", {}),
    ("group.leave", "group", {}),
    ("group.members", "group", {}),
    ("group.send", "group", {"text": "hi"}),
    ("history", "with", {}),
    ("history", "group", {}),
    ("ack", "with", {"upto": "1-0"}),
    ("ack", "group", {"upto": "1-0"}),
]


@pytest.mark.parametrize("value", GOOD_NAMES)
@pytest.mark.parametrize("wireType, field, extra", NAME_FIELDS)
def test_goodNames(wireType, field, extra, value):
    """
    Names of letters, marks and digits of any script, C{_}, C{.} and C{-},
    up to 32 characters, are accepted.
    """
    request = parse(wireType, **dict(extra, **{field: value}))
    assert value in [getattr(request, a, None) for a in ("user", "to", "group", "peer")]


@pytest.mark.parametrize("value", BAD_NAMES)
@pytest.mark.parametrize("wireType, field, extra", NAME_FIELDS)
def test_badNames(wireType, field, extra, value):
    """
    Spaces, punctuation, symbols, control characters, lone surrogates and
    more than 32 characters are refused.
    """
    refused(wireType, field, **dict(extra, **{field: value}))


@pytest.mark.parametrize("value", [None, 1, 1.5, True, [], {}, ["alice"]])
def test_nameWrongType(value):
    """
    A missing name or one that is not a string is refused.
    """
    if value is None:
        error = refused("register", "user", password="pw")
        assert "missing" in error.message
    else:
        refused("register", "user", user=value, password="pw")
        refused("group.join", "group", group=value)


def test_nameNFC():
    """
    Names are normalised to NFC, so the two ways of writing é are one name.
    """
    decomposed = "Jose\u0301"
    assert parse("login", user=decomposed, password="x").user == "José"
    assert parse("group.join", group="cafe\u0301").group == "café"
    assert parse("send", to="한국", text="x").to == unicodedata.normalize("NFC", "한국")
    # Hangul jamo compose into syllables.
    assert parse("send", to="\u1112\u1161\u11ab", text="x").to == "한"


def test_nameLimitAfterNFC():
    """
    The 32-character limit applies to the normalised name.
    """
    assert parse("register", user="e\u0301" * 32, password="p").user == "é" * 32
    refused("register", "user", user="e\u0301" * 33, password="p")


# Passwords, text, display names.


def test_password():
    """
    Passwords are 1-1024 characters, kept exactly as given (no
    normalisation), and must be encodable.
    """
    assert parse("login", user="a", password="p" * 1024).password == "p" * 1024
    assert parse("login", user="a", password=" e\u0301 😀 ").password == " e\u0301 😀 "
    refused("login", "password", user="a", password="p" * 1025)
    refused("login", "password", user="a", password="")
    refused("login", "password", user="a")
    refused("register", "password", user="a", password=1234)
    refused("register", "password", user="a", password="abc\ud800")


def test_text():
    """
    Message text is 1-8192 characters (emoji count as one), anything
    encodable.
    """
    assert parse("send", to="b", text="😀" * 8192).text == "😀" * 8192
    assert parse("group.send", group="g", text="你好\n\t\"<>&\x00").text == "你好\n\t\"<>&\x00"
    for wireType, extra in (("send", {"to": "b"}), ("group.send", {"group": "g"})):
        refused(wireType, "text", text="x" * 8193, **extra)
        refused(wireType, "text", text="", **extra)
        refused(wireType, "text", **extra)
        refused(wireType, "text", text=["x"], **extra)
        refused(wireType, "text", text=5, **extra)
        refused(wireType, "text", text="\udc00", **extra)


def test_displayName():
    """
    The optional display name of C{register} is any text of 1-64 characters.
    """
    assert parse("register", user="a", password="p").name is None
    assert parse("register", user="a", password="p", name="张 三 😀").name == "张 三 😀"
    assert parse("register", user="a", password="p", name="n" * 64).name == "n" * 64
    refused("register", "name", user="a", password="p", name="n" * 65)
    refused("register", "name", user="a", password="p", name="")
    refused("register", "name", user="a", password="p", name=7)


# Paging and the other optional fields.


def test_usersLimit():
    """
    C{users} takes a C{limit} of 1-1000 (default 100) and a text cursor.
    """
    assert parse("users").limit == 100
    assert parse("users").cursor is None
    assert parse("users", limit=1).limit == 1
    assert parse("users", limit=1000, cursor="张三").limit == 1000
    for bad in (0, -1, 1001, 1.0, 10.5, "10", True, [10]):
        refused("users", "limit", limit=bad)
    for bad in (5, "", "c" * 257, ["a"]):
        refused("users", "cursor", cursor=bad)


def test_cid():
    """
    A C{cid} is a string of at most 64 characters or an integer; the two
    kinds never collide.
    """
    assert parse("send", to="b", text="t").cid is None
    assert parse("send", to="b", text="t", cid="1").cid != parse("send", to="b", text="t", cid=1).cid
    assert parse("group.send", group="g", text="t", cid="c" * 64).cid == "s" + "c" * 64
    for bad in ("c" * 65, "", True, 1.5, [1], 2**63):
        refused("send", "cid", to="b", text="t", cid=bad)
        refused("group.send", "cid", group="g", text="t", cid=bad)


def test_history():
    """
    C{history} names exactly one of C{with} and C{group}; C{before} is a
    msg_id and C{limit} is 1-200 (default 50).
    """
    request = parse("history", group="lobby")
    assert (request.group, request.peer, request.before, request.limit) == ("lobby", None, None, 50)
    assert parse("history", **{"with": "张三", "before": "1700000000000-3", "limit": 200}).peer == "张三"
    refused("history", "with")
    refused("history", "with", group="lobby", **{"with": "bob"})
    for bad in ("abc", "1-", "-1", 5, "1-2-3", " 1-2", "1-2\n", "18446744073709551616-0", "1-18446744073709551616"):
        refused("history", "before", group="lobby", before=bad)
    # The largest a Redis stream id can be.
    assert parse("history", group="lobby", before="18446744073709551615-18446744073709551615").before
    for bad in (0, 201, "5"):
        refused("history", "limit", group="lobby", limit=bad)


def test_ack():
    """
    C{ack} needs C{upto} (a msg_id) and one of C{with} and C{group}.
    """
    assert parse("ack", upto="5-0", group="lobby").upto == "5-0"
    refused("ack", "upto", group="lobby")
    refused("ack", "upto", group="lobby", upto=5)
    refused("ack", "with", upto="5-0")


def test_noFieldRequests():
    """
    C{logout}, C{ping} and C{group.list} take no fields and ignore others.
    """
    for wireType in ("logout", "ping", "group.list"):
        parse(wireType, anything="at all")


def test_unknownFieldsIgnored():
    """
    Unknown fields never make a request invalid.
    """
    assert parse("login", user="a", password="b", device="📱").user == "a"


# Error codes.


def test_errorCodes():
    """
    Every code of PROTOCOL.md has an exception, and replies carry the code,
    a sentence and the id.
    """
    classes = [
        errors.BadJSON, errors.BadRequest, errors.UnknownType, errors.TooLarge, errors.NotLoggedIn,
        errors.AuthFailed, errors.UserExists, errors.NoSuchUser, errors.GroupExists, errors.NoSuchGroup,
        errors.NotMember, errors.RateLimited, errors.Unavailable, errors.Internal,
        errors.Forbidden, errors.Blocked, errors.NameTaken,
    ]
    assert tuple(cls.code for cls in classes) == errors.CODES
    for cls in classes:
        reply = cls().reply("x")
        assert reply["type"] == "error"
        assert reply["id"] == "x"
        assert reply["message"]
    assert "id" not in errors.AuthFailed().reply(None)
    assert errors.RateLimited("slow", retry_after=3).reply(1)["retry_after"] == 3
