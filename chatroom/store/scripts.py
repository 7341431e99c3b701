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
        errors.NoSuchGroup, errors.NotMember, errors.Forbidden, errors.BadRequest, errors.Blocked,
    )
}


#: Every L{Script} made, by name: loaded into Redis on every connection.
SCRIPTS = {}


#: Functions every script may use.
_LIBRARY = pkgutil.get_data("chatroom.store", "lua/_lib.lua").decode("utf-8")


def _lua(name):
    return pkgutil.get_data("chatroom.store", "lua/%s.lua" % (name,)).decode("utf-8")


class Script:
    """
    A Lua script shipped in C{chatroom/store/lua}, run with EVALSHA, after
    C{_lib.lua} and the C{libraries} it names (C{"_group"}: the group
    scripts' keys and rules).
    """

    def __init__(self, name, libraries=()):
        self.name = name
        self.source = _LIBRARY + "".join(_lua(library) for library in libraries) + _lua(name)
        self.sha = hashlib.sha1(self.source.encode("utf-8")).hexdigest()
        SCRIPTS[name] = self


def scriptError(code, message=None):
    """
    The protocol error for an error code a script returned (as an error
    reply or as a value), with the script's sentence if it gave one.
    """
    cls = _SCRIPT_ERRORS.get(code)
    return cls(message or None) if cls is not None else errors.Internal("storage error %r" % (code,))
