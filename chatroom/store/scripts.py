# -*- test-case-name: tests.store.test_redis_faults -*-
"""
The Lua scripts shipped in C{chatroom/store/lua}, and the errors they raise.
"""

import hashlib
import pkgutil

from chatroom import errors

#: Redis error replies our scripts raise, by protocol code.
_SCRIPT_ERRORS = {
    cls.code: cls
    for cls in (
        errors.UserExists, errors.NoSuchUser, errors.GroupExists,
        errors.NoSuchGroup, errors.NotMember, errors.Blocked,
    )
}


#: Every L{Script} made, by name: loaded into Redis on every connection.
SCRIPTS = {}


#: Functions every script may use.
_LIBRARY = pkgutil.get_data("chatroom.store", "lua/_lib.lua").decode("utf-8")


class Script:
    """
    A Lua script shipped in C{chatroom/store/lua}, run with EVALSHA.
    """

    def __init__(self, name):
        self.name = name
        self.source = _LIBRARY + pkgutil.get_data("chatroom.store", "lua/%s.lua" % (name,)).decode("utf-8")
        self.sha = hashlib.sha1(self.source.encode("utf-8")).hexdigest()
        SCRIPTS[name] = self


def scriptError(code):
    """
    The protocol error for an error code a script returned (as an error
    reply or as a value).
    """
    cls = _SCRIPT_ERRORS.get(code)
    return cls() if cls is not None else errors.Internal("storage error %r" % (code,))
