# -*- test-case-name: tests.handlers.test_controls -*-
"""
The requests of personal controls (PROTOCOL 1.1) as attrs classes, beside
those of 1.0 in L{chatroom.messages}, and the C{bye} event.
"""

from chatroom.messages import displayName, field, name, password, request

#: The reasons a C{bye} gives, by what closed the connection.
BYE_REASONS = frozenset({
    "logout", "password_changed", "account_deleted", "banned", "shutdown", "idle", "too_large", "slow",
})


def byeEvent(reason):
    """
    The C{bye} event: the server is about to close the connection, and why.
    """
    return {"type": "bye", "reason": reason}


@request("block")
class Block:
    user = field(name)


@request("unblock")
class Unblock:
    user = field(name)


@request("blocks")
class Blocks:
    pass


@request("password.change")
class PasswordChange:
    old = field(password)
    new = field(password)


@request("account.delete")
class AccountDelete:
    password = field(password)


@request("profile.set")
class ProfileSet:
    name = field(displayName)


@request("user.info")
class UserInfo:
    user = field(name)


@request("admin.ban")
class AdminBan:
    user = field(name)


@request("admin.unban")
class AdminUnban:
    user = field(name)
