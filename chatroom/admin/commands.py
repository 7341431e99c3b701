# -*- test-case-name: tests.test_admin -*-
"""
The commands of C{chatroom-admin}, one class each, in a registry.

A command is a class registered with L{command}: its C{name} and C{help},
C{arguments(parser)} to add its own arguments, C{prepare(args, server)}
(before the reactor runs: checks the arguments, reads a password),
C{async run(context, args)} returning the JSON object it reports, and
C{text(result)}, that object as text.  A new command is one more class
here (or in a module that this one imports).
"""

import time

from twisted.python import usage

from chatroom import errors, messages

#: The commands by name, in the order of C{--help}.
COMMANDS = {}

#: The most names C{users} and C{groups} list at once.
MAX_LIMIT = 10000


class AdminError(Exception):
    """
    A command's failure: C{code} (for C{--json}) and C{exitCode}.
    """

    code = "error"
    exitCode = 1


class NotFound(AdminError):
    """
    No such user or group: exit status 1.
    """

    code = "not_found"
    exitCode = 1


class Refused(AdminError):
    """
    The store refused the change (the lobby cannot be deleted): exit
    status 2, as a usage error.
    """

    code = "refused"
    exitCode = 2


class Unreachable(AdminError):
    """
    Redis (or the server of the embedded Redis) cannot be reached: exit
    status 3.
    """

    code = "unreachable"
    exitCode = 3


def command(cls):
    """
    Register the command class C{cls} under its C{name} (once).
    """
    if cls.name in COMMANDS:
        raise ValueError("command %r registered twice" % (cls.name,))
    COMMANDS[cls.name] = cls
    return cls


def checkName(kind, value):
    """
    C{value} as a user or group name (NFC), checked as the server checks it.

    @raise usage.UsageError: if the server would refuse it.
    """
    try:
        return messages.name(kind, value)
    except errors.BadRequest as e:
        raise usage.UsageError(str(e)) from None


def checkPrefix(value):
    """
    C{value} as a name prefix (empty allowed).
    """
    return checkName("prefix", value) if value else ""


def formatTime(ms):
    """
    A time in milliseconds since the epoch as UTC text, or C{"unknown"}.
    """
    if not ms:
        return "unknown"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000.0))


def _limit(value):
    number = int(value)
    if not 1 <= number <= MAX_LIMIT:
        raise ValueError()
    return number


class Command:
    """
    A command with no arguments of its own.
    """

    name = None
    help = None

    @staticmethod
    def arguments(parser):
        """
        Add the command's arguments to its C{argparse} C{parser}.
        """

    def prepare(self, args, server):
        """
        Check C{args} before the reactor runs (L{usage.UsageError} if wrong).
        """

    async def run(self, context, args):
        """
        Do it; the JSON object to report.
        """
        raise NotImplementedError()

    def text(self, result):
        """
        C{result} as lines of text.
        """
        raise NotImplementedError()


class _Listing(Command):
    """
    A listing by name prefix, in name order, a page at a time.
    """

    @staticmethod
    def arguments(parser):
        parser.add_argument("prefix", nargs="?", default="", help="only names that start with this")
        parser.add_argument("--after", default=None, help="start after this name (the cursor of the previous page)")
        parser.add_argument("--limit", type=_limit, default=100, help="names per page (1-%d, default 100)" % MAX_LIMIT)

    def prepare(self, args, server):
        args.prefix = checkPrefix(args.prefix)
        if args.after is not None:
            args.after = checkName("after", args.after)

    def more(self, result):
        """
        The line that says how to get the next page, if there is one.
        """
        cursor = result["cursor"]
        return "-- more: the same with --after %s\n" % (cursor,) if cursor else ""


@command
class Stats(Command):
    name = "stats"
    help = ("Users registered and online, groups, conversations and messages, the nodes, and Redis. "
            "Counting walks the keyspace once with SCAN; --no-scan skips that.")

    @staticmethod
    def arguments(parser):
        parser.add_argument("--no-scan", action="store_true",
                            help="skip the walk over the keyspace (users registered, groups, "
                                 "conversations and messages are then null)")

    async def run(self, context, args):
        store = context.store
        online = await store.online()
        alive, dead = await store.nodes()
        info = await store.info()
        counts = None if args.no_scan else await store.counts()

        def counted(key):
            return None if counts is None else counts[key]

        return {
            "users": {"registered": counted("users"), "deleted": counted("deleted users"), "online": online},
            "groups": counted("groups"),
            "conversations": {"direct": counted("direct conversations"), "group": counted("group conversations")},
            "messages": counted("messages"),
            "nodes": {"alive": alive, "dead": dead},
            "redis": _redisSummary(info),
        }

    def text(self, result):
        def n(value):
            return "?" if value is None else str(value)

        redis = result["redis"]
        nodes = result["nodes"]
        return "".join([
            "users:          %s registered, %d online%s\n" % (
                n(result["users"]["registered"]), result["users"]["online"],
                ", %d deleted" % result["users"]["deleted"] if result["users"]["deleted"] else ""),
            "groups:         %s\n" % (n(result["groups"]),),
            "conversations:  %s direct, %s group\n" % (
                n(result["conversations"]["direct"]), n(result["conversations"]["group"])),
            "messages:       %s\n" % (n(result["messages"]),),
            "nodes:          %d alive%s, %d dead%s\n" % (
                len(nodes["alive"]), " (%s)" % ", ".join(nodes["alive"]) if nodes["alive"] else "",
                len(nodes["dead"]), " (%s)" % ", ".join(nodes["dead"]) if nodes["dead"] else ""),
            "redis:          %s %s at %s, %d master(s), up %s s, %s used, %s clients, %s keys, AOF %s, "
            "ping %s ms\n" % (
                redis["mode"], redis["version"], redis["address"], redis["masters"], n(redis["uptime_seconds"]),
                redis["used_memory_human"], n(redis["connected_clients"]), n(redis["keys"]),
                "on" if redis["aof_enabled"] else "off", n(redis["ping_ms"])),
        ])


def _number(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _human(size):
    # Bytes as Redis writes them in used_memory_human (1.73M), here for
    # the sum over a cluster's masters.
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= scale:
            return "%.2f%s" % (size / scale, unit)
    return "%dB" % (size,)


def _keyCount(info):
    # The keyspace lines: db0:keys=12,expires=0,avg_ttl=0.
    total = 0
    for key, value in info.items():
        if key.startswith("db") and key[2:].isdigit():
            total += int(dict(part.split("=", 1) for part in value.split(","))["keys"])
    return total


def _redisSummary(info):
    masters = info.get("masters")
    every = list(masters.values()) if masters else [info]
    every = [i for i in every if "error" not in i]
    return {
        "address": info["address"],
        "mode": "cluster" if masters is not None else "standalone",
        "masters": len(masters) if masters is not None else 1,
        "version": info.get("redis_version"),
        "uptime_seconds": _number(info.get("uptime_in_seconds")),
        "used_memory": sum(_number(i.get("used_memory")) or 0 for i in every),
        "used_memory_human": _human(sum(_number(i.get("used_memory")) or 0 for i in every)),
        "connected_clients": sum(_number(i.get("connected_clients")) or 0 for i in every),
        "keys": sum(_keyCount(i) for i in every),
        "aof_enabled": info.get("aof_enabled") == "1",
        "ping_ms": info.get("ping_ms"),
    }


@command
class Users(_Listing):
    name = "users"
    help = ("Registered users whose names start with PREFIX, in name order, a page at a time "
            "(each page walks the keyspace once with SCAN); deleted accounts are left out.")

    async def run(self, context, args):
        store = context.store
        names, cursor = await store.users(args.prefix, args.after, args.limit)
        shown = await store.displayNames(names)
        online = await store.areOnline(names)
        return {
            "users": [{"user": u, "name": d, "online": o} for u, d, o in zip(names, shown, online)],
            "cursor": cursor,
        }

    def text(self, result):
        lines = ["%s%s%s\n" % (u["user"], "  (%s)" % (u["name"],) if u["name"] != u["user"] else "",
                               "  online" if u["online"] else "") for u in result["users"]]
        return "".join(lines) + self.more(result)


@command
class User(Command):
    name = "user"
    help = "One user: display name, creation time, groups, where it is connected."

    @staticmethod
    def arguments(parser):
        parser.add_argument("user", help="the user's name")

    def prepare(self, args, server):
        args.user = checkName("user", args.user)

    async def run(self, context, args):
        record = await context.store.user(args.user)
        if record is None:
            deleted = await context.store.isDeleted(args.user)
            raise NotFound("no such user: %s%s" % (args.user, " (a deleted account: its name stays taken)"
                                                   if deleted else ""))
        return {
            "user": record["name"],
            "name": record["display_name"],
            "created": record["created"],
            "groups": record["groups"],
            "online": bool(record["connections"]),
            "connections": record["connections"],
            "peers": record["peers"],
            "banned": record["banned"],
        }

    def text(self, result):
        connections = result["connections"]
        where = ", ".join("%s on %s" % (n, node) for node, n in connections.items())
        return "".join([
            "user:         %s\n" % (result["user"],),
            "display name: %s\n" % (result["name"],),
            "created:      %s\n" % (formatTime(result["created"]),),
            "groups:       %d%s\n" % (len(result["groups"]), ": " + ", ".join(result["groups"]) if result["groups"] else ""),
            "online:       %s\n" % ("yes, %d connection(s): %s" % (sum(connections.values()), where)
                                    if connections else "no",),
            "peers:        %d\n" % (result["peers"],),
            "banned:       %s\n" % ("yes" if result["banned"] else "no",),
        ])


@command
class Groups(_Listing):
    name = "groups"
    help = ("Groups whose names start with PREFIX, in name order, with their member counts, a page at "
            "a time (each page walks the keyspace once with SCAN).")

    async def run(self, context, args):
        store = context.store
        names, cursor = await store.groups(args.prefix, args.after, args.limit)
        sizes = await store.sizes(names)
        return {"groups": [{"group": g, "members": n} for g, n in zip(names, sizes)], "cursor": cursor}

    def text(self, result):
        lines = ["%s  %d member%s\n" % (g["group"], g["members"], "" if g["members"] == 1 else "s")
                 for g in result["groups"]]
        return "".join(lines) + self.more(result)


@command
class Group(Command):
    name = "group"
    help = "One group: members (and how many are online), creator, creation time, messages."

    @staticmethod
    def arguments(parser):
        parser.add_argument("group", help="the group's name")
        parser.add_argument("--members", action="store_true", help="list the members too")

    def prepare(self, args, server):
        args.group = checkName("group", args.group)

    async def run(self, context, args):
        record = await context.store.group(args.group, members=args.members)
        if record is None:
            raise NotFound("no such group: %s" % (args.group,))
        memberList = record["member_list"]
        return {
            "group": record["name"],
            "created": record["created"],
            "creator": record["creator"],
            "members": record["members"],
            "online": record["online"],
            "messages": record["messages"],
            "last_message": record["last_message"],
            "member_list": None if memberList is None else [{"user": u, "online": o} for u, o in memberList],
        }

    def text(self, result):
        lines = [
            "group:        %s\n" % (result["group"],),
            "created:      %s%s\n" % (formatTime(result["created"]),
                                      " by %s" % (result["creator"],) if result["creator"] else ""),
            "members:      %d%s\n" % (result["members"], "" if result["online"] is None
                                      else ", %d online" % (result["online"],)),
            "messages:     %d%s\n" % (result["messages"], "" if result["last_message"] is None
                                      else ", the last at %s" % (formatTime(int(result["last_message"].split("-")[0])),)),
        ]
        for member in result["member_list"] or []:
            lines.append("  %s%s\n" % (member["user"], "  online" if member["online"] else ""))
        return "".join(lines)


# The commands that change accounts and groups and tell the nodes.
from chatroom.admin import changes  # noqa: E402,F401  (registers them)
