# -*- test-case-name: tests.test_messages -*-
"""
The requests of the wire protocol as attrs classes, with their validation,
and what names a conversation and a message in it (L{chatroom.events}
builds the events the server pushes).

Each request class names its wire C{type}, whether it needs a logged-in
connection, and its fields.  L{parseRequest} turns a decoded JSON object into
an instance or raises L{BadRequest} naming the offending field, so handlers
only ever see valid, normalised values.
"""

import re
import unicodedata

import attr

from chatroom.errors import BadRequest, UnknownType
from chatroom.names import checkName

MAX_NAME = 32
MAX_PASSWORD = 1024
MAX_TEXT = 8192
MAX_DISPLAY_NAME = 64
MAX_ID = 64
MAX_CID = 64
MAX_TITLE = 64
USERS_LIMIT = (100, 1000)
HISTORY_LIMIT = (50, 200)
MEMBERS_LIMIT = (100, 1000)
DIRECTORY_LIMIT = (50, 200)
VISIBILITIES = ("public", "private")
HISTORY_RULES = ("shared", "joined")
ROLES = ("owner", "admin", "member")

_SURROGATE = re.compile("[\ud800-\udfff]")
_MSG_ID = re.compile(r"\A[0-9]{1,20}-[0-9]{1,20}\Z")
_NAME_EXTRA = frozenset("_.-")


def _checkText(field, value, maximum):
    if not isinstance(value, str):
        raise BadRequest("field '%s' must be a string" % field)
    if not 0 < len(value) <= maximum:
        raise BadRequest("field '%s' must be 1-%d characters" % (field, maximum))
    if _SURROGATE.search(value):
        # A lone surrogate cannot be encoded as UTF-8: it could never be
        # stored or sent back, so it is refused here.
        raise BadRequest("field '%s' holds an invalid character" % field)
    return value


def name(field, value):
    """
    Validate and NFC-normalise a user or group name.
    """
    if not isinstance(value, str):
        raise BadRequest("field '%s' must be a string" % field)
    value = unicodedata.normalize("NFC", value)
    if not 0 < len(value) <= MAX_NAME:
        raise BadRequest("field '%s' must be 1-%d characters" % (field, MAX_NAME))
    for char in value:
        if char in _NAME_EXTRA:
            continue
        category = unicodedata.category(char)
        if category[0] not in "LM" and category != "Nd":
            raise BadRequest(
                "field '%s' may hold only letters, digits, '_', '.' and '-'" % field
            )
    return value


def newName(field, value):
    """
    Validate a name being created (C{register}, C{group.create}): the 1.0
    rule, and no invisible character (L{chatroom.names.checkName}).
    """
    return checkName(field, name(field, value))


def password(field, value):
    """
    Validate a password (kept exactly as given).
    """
    return _checkText(field, value, MAX_PASSWORD)


def text(field, value):
    """
    Validate message text.
    """
    return _checkText(field, value, MAX_TEXT)


def displayName(field, value):
    """
    Validate a display name.
    """
    return _checkText(field, value, MAX_DISPLAY_NAME)


def title(field, value):
    """
    Validate a group title: any text of 0-64 characters.
    """
    if value == "":
        return value
    return _checkText(field, value, MAX_TITLE)


def oneOf(choices):
    """
    A check that the value is one of C{choices} (strings).
    """

    def check(field, value):
        if value not in choices:
            raise BadRequest("field '%s' must be one of %s" % (field, ", ".join('"%s"' % c for c in choices)))
        return value

    return check


def prefix(field, value):
    """
    Validate a group name prefix (empty: every name).
    """
    return value if value == "" else name(field, value)


def msgId(field, value):
    """
    Validate a msg_id given back by a client.
    """
    # Both parts fit in 64 bits, as Redis stream ids do (a larger one
    # would be refused by Redis, not by us).
    if not isinstance(value, str) or not _MSG_ID.match(value) or max(map(int, value.split("-"))) >= 2**64:
        raise BadRequest("field '%s' must be a msg_id given by the server" % field)
    return value


def cid(field, value):
    """
    Validate a client-chosen idempotency key; strings and integers are
    kept apart.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadRequest("field '%s' must be a string or an integer" % field)
    if isinstance(value, int):
        if abs(value) >= 2**63:
            raise BadRequest("field '%s' is out of range" % field)
        return "i%d" % (value,)
    return "s" + _checkText(field, value, MAX_CID)


def cursor(field, value):
    """
    Validate a paging cursor.
    """
    return _checkText(field, value, 256)


def _limit(default, maximum):
    def check(field, value):
        if value is None:
            return default
        if type(value) is not int or not 0 < value <= maximum:
            raise BadRequest("field '%s' must be an integer from 1 to %d" % (field, maximum))
        return value

    return check


def requestId(value):
    """
    Validate a request C{id}; return C{None} for one that cannot be echoed.
    """
    if type(value) is int and abs(value) < 2**63:
        return value
    if isinstance(value, str) and len(value) <= MAX_ID and not _SURROGATE.search(value):
        return value
    return None


def field(check, key=None, optional=False):
    """
    Declare a request field validated by C{check(wireName, value)}.

    @param key: the wire name when it differs from the attribute name.
    @param optional: a missing (or null) optional field is given to
        C{check} as C{None}, which returns the field's default.
    """
    metadata = {"check": check, "key": key, "optional": optional}
    if optional:
        return attr.ib(default=None, metadata=metadata)
    return attr.ib(metadata=metadata)


def optional(check):
    """
    Wrap C{check} so that a missing value stays C{None}.
    """

    def checkOptional(field, value):
        return None if value is None else check(field, value)

    return checkOptional


#: wire type -> request class
REQUESTS = {}


def request(wireType, loginRequired=True):
    """
    Class decorator: make an attrs request class and register it under its
    wire type.  A type registered twice is a programming error.
    """

    def decorate(cls):
        if wireType in REQUESTS:
            raise ValueError("request type %r registered twice" % (wireType,))
        cls = attr.s(frozen=True, slots=True)(cls)
        cls.type = wireType
        cls.loginRequired = loginRequired
        cls._fields = tuple(
            (a.name, a.metadata["key"] or a.name, a.metadata["check"], a.metadata["optional"])
            for a in attr.fields(cls)
        )
        REQUESTS[wireType] = cls
        return cls

    return decorate


def parseRequest(cls, obj):
    """
    Build a request of class C{cls} from the decoded JSON object C{obj}.

    @raise BadRequest: naming the first missing or invalid field.
    """
    values = {}
    for attrName, key, check, isOptional in cls._fields:
        value = obj.get(key)
        if value is None and not isOptional:
            raise BadRequest("missing field '%s'" % key)
        values[attrName] = check(key, value)
    instance = cls(**values)
    validate = getattr(instance, "validate", None)
    if validate is not None:
        validate()
    return instance


def requestClass(wireType):
    """
    The request class for C{wireType}.

    @raise UnknownType: if there is none.
    """
    try:
        return REQUESTS[wireType]
    except KeyError:
        raise UnknownType("unknown request type %r" % (wireType[:64],)) from None


class _Conversation:
    """
    Mixin for requests naming either a user (C{with}) or a group.
    """

    __slots__ = ()

    def validate(self):
        if (self.peer is None) == (self.group is None):
            raise BadRequest("give exactly one of the fields 'with' and 'group'")


@request("register", loginRequired=False)
class Register:
    user = field(newName)
    password = field(password)
    name = field(optional(displayName), optional=True)


@request("login", loginRequired=False)
class Login:
    user = field(name)
    password = field(password)


@request("logout")
class Logout:
    pass


@request("ping", loginRequired=False)
class Ping:
    pass


@request("users")
class Users:
    limit = field(_limit(*USERS_LIMIT), optional=True)
    cursor = field(optional(cursor), optional=True)


@request("send")
class Send:
    to = field(name)
    text = field(text)
    cid = field(optional(cid), optional=True)


@request("group.create")
class GroupCreate:
    group = field(newName)
    visibility = field(optional(oneOf(VISIBILITIES)), optional=True)
    history = field(optional(oneOf(HISTORY_RULES)), optional=True)
    title = field(optional(title), optional=True)


@request("group.join")
class GroupJoin:
    group = field(name)


@request("group.leave")
class GroupLeave:
    group = field(name)


@request("group.list")
class GroupList:
    pass


@request("group.members")
class GroupMembers:
    group = field(name)
    limit = field(_limit(*MEMBERS_LIMIT), optional=True)
    cursor = field(optional(cursor), optional=True)


@request("group.send")
class GroupSend:
    group = field(name)
    text = field(text)
    cid = field(optional(cid), optional=True)


@request("history")
class History(_Conversation):
    peer = field(optional(name), key="with", optional=True)
    group = field(optional(name), optional=True)
    before = field(optional(msgId), optional=True)
    limit = field(_limit(*HISTORY_LIMIT), optional=True)


@request("ack")
class Ack(_Conversation):
    upto = field(msgId)
    peer = field(optional(name), key="with", optional=True)
    group = field(optional(name), optional=True)


@attr.s(frozen=True, slots=True)
class Conversation:
    """
    A conversation as one user sees it: with a peer (C{kind} C{"u"}) or in
    a group (C{kind} C{"g"}).
    """

    kind = attr.ib()
    name = attr.ib()

    @classmethod
    def of(cls, request):
        """
        The conversation a C{history} or C{ack} request names.
        """
        if request.group is not None:
            return cls("g", request.group)
        return cls("u", request.peer)

    def identity(self, user):
        """
        What names this conversation whoever of its users looks at it: a
        message is known by C{(identity, msg_id)}.
        """
        if self.kind == "g":
            return ("g", self.name)
        return ("u",) + ((user, self.name) if user <= self.name else (self.name, user))


def directIdentity(a, b):
    """
    The identity of the direct conversation between C{a} and C{b}.
    """
    return ("u",) + ((a, b) if a <= b else (b, a))


def groupIdentity(group):
    """
    The identity of C{group}'s conversation.
    """
    return ("g", group)


def msgIdKey(value):
    """
    Sort key of a msg_id: the order of a conversation.
    """
    ms, _, seq = value.partition("-")
    return (int(ms), int(seq))


def timestampOf(value):
    """
    The C{ts} (milliseconds since the epoch) of a msg_id: stream ids start
    with the server clock's milliseconds.
    """
    return int(value.partition("-")[0])
