# -*- test-case-name: tests.test_messages -*-
"""
The error codes of the wire protocol, as exceptions.

A handler raises one of these; the dispatcher turns it into an ``error``
reply carrying ``code`` and ``message``.  Anything else a handler raises is
a bug: it is logged and the client only sees ``internal``.
"""


class ChatError(Exception):
    """
    A request failed in a way the protocol has a code for.

    @ivar code: the protocol error code.
    @ivar message: a human sentence for the client.
    @ivar extra: further reply fields (for example ``retry_after``).
    """

    code = "internal"
    default = "internal error"

    def __init__(self, message=None, **extra):
        self.message = message or self.default
        self.extra = extra
        super().__init__(self.message)

    def reply(self, rid):
        """
        The ``error`` reply object for request id C{rid}.
        """
        obj = {"type": "error", "code": self.code, "message": self.message}
        if rid is not None:
            obj["id"] = rid
        obj.update(self.extra)
        return obj


def _error(code, default):
    cls = type(code.title().replace("_", "") + "Error", (ChatError,), {"code": code, "default": default})
    cls.__doc__ = "Protocol error C{%s}: %s." % (code, default)
    return cls


BadJSON = _error("bad_json", "frame is not valid UTF-8 JSON")
BadRequest = _error("bad_request", "invalid request")
UnknownType = _error("unknown_type", "unknown request type")
TooLarge = _error("too_large", "frame too large")
NotLoggedIn = _error("not_logged_in", "log in first")
AuthFailed = _error("auth_failed", "wrong user name or password")
UserExists = _error("user_exists", "that user name is taken")
NoSuchUser = _error("no_such_user", "no such user")
GroupExists = _error("group_exists", "that group already exists")
NoSuchGroup = _error("no_such_group", "no such group")
NotMember = _error("not_member", "you are not a member of that group")
RateLimited = _error("rate_limited", "too many requests, slow down")
Unavailable = _error("unavailable", "storage is unavailable, try again")
Internal = _error("internal", "internal server error")
Forbidden = _error("forbidden", "you are not allowed to do that")
Blocked = _error("blocked", "that user has blocked you")
NameTaken = _error("name_taken", "that name is too much like one already taken")

#: Every code a server may send, in PROTOCOL.md's order.
CODES = (
    "bad_json", "bad_request", "unknown_type", "too_large", "not_logged_in",
    "auth_failed", "user_exists", "no_such_user", "group_exists",
    "no_such_group", "not_member", "rate_limited", "unavailable", "internal",
    "forbidden", "blocked", "name_taken",
)
