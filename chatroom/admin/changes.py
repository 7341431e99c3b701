# -*- test-case-name: tests.test_admin -*-
"""
The commands of C{chatroom-admin} that change accounts and groups:
C{reset-password}, C{ban}, C{unban}, C{delete} and C{group-delete}, each by
the store code the servers' requests use (C{admin.ban}, C{admin.unban},
C{account.delete}, C{group.delete} by a server admin), and each telling the
nodes what their connections must see, with the relay's own envelopes.

Registered in L{chatroom.admin.commands.COMMANDS} when that module is
imported.
"""

import getpass
import sys

from twisted.python import usage

from chatroom import errors, messages, securitylog
from chatroom.admin.commands import Command, NotFound, Refused, checkName, command
from chatroom.grouprequests import groupChange
from chatroom.events import groupEvent
from chatroom.protocol import encode
from chatroom.relay import deletedEnvelope, groupEventEnvelope, kickEnvelope

#: The origin of the envelopes C{chatroom-admin} publishes: never a node's
#: id (those hold only letters, digits, C{_}, C{.} and C{-}).
ORIGIN = "@chatroom-admin"


async def closeSessions(context, user, reason):
    """
    Close every connection of C{user} on every node with a C{bye} giving
    C{reason}, as the servers do (the relay's kick envelope): the number
    of nodes that heard it.
    """
    return await context.store.kick(kickEnvelope(ORIGIN, user, reason))


def nodesTold(count):
    """
    How many nodes heard an envelope, as text.
    """
    return "%d node%s told" % (count, "" if count == 1 else "s")


#: The C{by} of the C{deleted} event of a group deleted by C{chatroom-admin}.
ACTOR = "chatroom-admin"


def operator():
    """
    Who runs C{chatroom-admin}, for the security log: C{chatroom-admin:LOGIN}.
    """
    try:
        login = getpass.getuser()
    except Exception:
        login = "unknown"
    return "%s:%s" % (ACTOR, login)


class _OneUser(Command):
    """
    A command on one user, named on the command line.
    """

    @staticmethod
    def arguments(parser):
        parser.add_argument("user", help="the user's name")

    def prepare(self, args, server):
        args.user = checkName("user", args.user)


def _noSuchUser(user):
    return NotFound("no such user: %s" % (user,))


@command
class ResetPassword(Command):
    name = "reset-password"
    help = ("Give a user a new password, read from a prompt (twice) or from standard input "
            "(--password-stdin), never from the command line.")

    @staticmethod
    def arguments(parser):
        parser.add_argument("user", help="the user's name")
        parser.add_argument("--password-stdin", action="store_true",
                            help="read the password from the first line of standard input")

    def prepare(self, args, server):
        args.user = checkName("user", args.user)
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = getpass.getpass("New password for %s: " % (args.user,))
            if getpass.getpass("Again: ") != password:
                raise usage.UsageError("the two passwords differ; nothing changed")
        try:
            self.password = messages.password("password", password)
        except errors.BadRequest as e:
            raise usage.UsageError(str(e)) from None

    async def run(self, context, args):
        from chatroom.passwords import PasswordHasher

        server = context.server
        # The server's hash parameters, from the same configuration.
        hasher = PasswordHasher(context.reactor, context.reactor.getThreadPool(),
                                server["hash-cost"], server["hash-memory"])
        if await context.store.user(args.user) is None:
            raise NotFound("no such user: %s" % (args.user,))
        passwordHash = await hasher.hash(self.password)
        try:
            await context.store.setPassword(args.user, passwordHash)
        except errors.NoSuchUser:
            raise NotFound("no such user: %s" % (args.user,)) from None
        # As password.change: whoever logged in with the old one is out.
        told = await closeSessions(context, args.user, "password_changed")
        return {"user": args.user, "password_changed": True, "sessions_closed": True, "nodes_told": told}

    def text(self, result):
        return ("Changed the password of %s and closed its connections (%s).\n"
                % (result["user"], nodesTold(result["nodes_told"])))


@command
class Ban(_OneUser):
    name = "ban"
    help = ("Ban a user from the server (as admin.ban): its connections are closed on every node "
            "(bye \"banned\") and its logins refused (forbidden) until unban.")

    async def run(self, context, args):
        try:
            await context.store.setBanned(args.user, True)
        except errors.NoSuchUser:
            raise _noSuchUser(args.user) from None
        securitylog.userBanned(None, args.user, operator())
        told = await closeSessions(context, args.user, "banned")
        return {"user": args.user, "banned": True, "sessions_closed": True, "nodes_told": told}

    def text(self, result):
        return "Banned %s from the server and closed its connections (%s).\n" % (
            result["user"], nodesTold(result["nodes_told"]))


@command
class Unban(_OneUser):
    name = "unban"
    help = "Lift a user's server ban (as admin.unban): it may log in again."

    async def run(self, context, args):
        try:
            await context.store.setBanned(args.user, False)
        except errors.NoSuchUser:
            raise _noSuchUser(args.user) from None
        securitylog.userUnbanned(None, args.user, operator())
        return {"user": args.user, "banned": False}

    def text(self, result):
        return "Lifted the server ban of %s.\n" % (result["user"],)


@command
class Delete(_OneUser):
    name = "delete"
    help = ("Delete an account (as account.delete, without its password): it leaves its groups "
            "(ownership passes on), its connections are closed on every node (bye \"account_deleted\"), "
            "it can no longer log in, and its name stays taken.")

    async def run(self, context, args):
        left = await context.store.deleteAccount(args.user)
        if left is None:
            raise _noSuchUser(args.user)
        # As the server's account.delete: each group hears that it left.
        for group in left:
            await context.store.publishToGroup(
                group, groupEventEnvelope(ORIGIN, group, encode(groupEvent(group, args.user, False))))
        told = await closeSessions(context, args.user, "account_deleted")
        return {"user": args.user, "deleted": True, "groups_left": left, "sessions_closed": True,
                "nodes_told": told}

    def text(self, result):
        groups = result["groups_left"]
        return "Deleted the account %s (left %d group%s%s) and closed its connections (%s).\n" % (
            result["user"], len(groups), "" if len(groups) == 1 else "s",
            ": " + ", ".join(groups) if groups else "", nodesTold(result["nodes_told"]))


@command
class GroupDelete(Command):
    name = "group-delete"
    help = ("Delete a group (as group.delete by a server admin): its members get the \"deleted\" event, "
            "by chatroom-admin, and nothing more of it.  Not the lobby.")

    @staticmethod
    def arguments(parser):
        parser.add_argument("group", help="the group's name")

    def prepare(self, args, server):
        args.group = checkName("group", args.group)

    async def run(self, context, args):
        group = args.group
        try:
            members = await context.store.deleteGroup(group, ACTOR)
        except errors.NoSuchGroup:
            raise NotFound("no such group: %s" % (group,)) from None
        except errors.Forbidden as e:
            # The lobby.
            raise Refused("%s: %s" % (group, e.message)) from None
        payload = encode(groupChange(group, ACTOR, "deleted", ACTOR))
        told = await context.store.publishToGroup(group, deletedEnvelope(ORIGIN, group, payload))
        return {"group": group, "deleted": True, "members": len(members), "by": ACTOR, "nodes_told": told}

    def text(self, result):
        return "Deleted the group %s (%d member%s told, %s).\n" % (
            result["group"], result["members"], "" if result["members"] == 1 else "s",
            nodesTold(result["nodes_told"]))
