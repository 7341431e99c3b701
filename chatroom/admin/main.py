# -*- test-case-name: tests.test_admin -*-
"""
C{chatroom-admin}'s command line: the options every command shares, where
Redis is (the server's own options, L{chatroom.tap.Options}, read from the
same C{--config} file and environment), the connection, the output and the
exit status.  The commands themselves are in L{chatroom.admin.commands}.

This module is a command: it prints.
"""

import argparse
import json
import os
import socket
import sys

from twisted.internet import defer, task
from twisted.python import usage

from chatroom import errors
from chatroom.admin.commands import COMMANDS, AdminError, Unreachable

#: Exit statuses.
EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3

_DESCRIPTION = (
    "Look at and fix a chatroom installation through the storage its servers use. It reads the "
    "server's configuration (--config, CHATROOM_REDIS_URL, --redis, --redis-password-file, "
    "--data-dir) to find Redis; with the embedded Redis, the server must be running. Every command "
    "takes --json. Exit status: 0 done, 1 not found, 2 usage error, 3 Redis (or the server) cannot "
    "be reached."
)


def _common(parser, defaults):
    # The options every command takes, before or after its name: the
    # subcommands' copies only override what is given after it.
    def default(value):
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--json", action="store_true", default=default(False),
                        help="print one JSON object (keys in docs/operations.rst)")
    parser.add_argument("-c", "--config", default=default(None),
                        help="the server's TOML configuration file (twistd chatroom --config)")
    parser.add_argument("--redis", default=default(None),
                        help="the server's Redis URL, as twistd chatroom --redis (default: "
                             "CHATROOM_REDIS_URL, the --config file, else the embedded Redis of --data-dir)")
    parser.add_argument("--redis-password-file", default=default(None),
                        help="a file (mode 0600) whose first line is the Redis password")
    parser.add_argument("-d", "--data-dir", default=default(None),
                        help="the server's data directory, where its embedded Redis runs "
                             "(default: the --config file's, else chatroom-data)")
    parser.add_argument("--timeout", type=float, default=default(10.0),
                        help="seconds to wait for Redis (default 10)")


def buildParser():
    """
    The C{argparse} parser: the shared options, and a subcommand for each
    command of L{COMMANDS}.
    """
    parser = argparse.ArgumentParser(prog="chatroom-admin", description=_DESCRIPTION)
    _common(parser, True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        sub = subparsers.add_parser(name, help=command.help, description=command.help)
        _common(sub, False)
        command.arguments(sub)
    return parser


def serverOptions(args):
    """
    The server's options (L{chatroom.tap.Options}) that C{args} and the
    server's own sources give: the same C{--config} file, environment and
    defaults, checked the same way.

    @raise usage.UsageError: for what the server would refuse.
    """
    from chatroom.tap import Options

    argv = []
    for name in ("config", "redis", "redis-password-file", "data-dir"):
        value = getattr(args, name.replace("-", "_"))
        if value is not None:
            argv += ["--" + name, value]
    options = Options()
    options.parseOptions(argv)
    return options


def embeddedSocket(dataDir):
    """
    The unix socket of the embedded Redis of the server running on
    C{dataDir}, once it answers.

    @raise Unreachable: saying why, if the server is not running there.
    """
    if not os.path.isdir(dataDir):
        raise Unreachable("no data directory %s: give the server's --data-dir (or --config), or --redis"
                          % (dataDir,))
    path = os.path.join(dataDir, "redis.sock")
    # A data directory whose path is too long for a socket has it elsewhere:
    # the running Redis's configuration names it.
    try:
        with open(os.path.join(dataDir, "redis.conf"), encoding="utf-8") as f:
            for line in f:
                if line.startswith("unixsocket "):
                    path = line.split(None, 1)[1].strip().strip('"')
    except OSError:
        pass
    probe = socket.socket(socket.AF_UNIX)
    try:
        probe.settimeout(2)
        probe.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        raise Unreachable("the chatroom server of %s is not running: no embedded Redis answers at %s "
                          "(start the server; chatroom-admin needs it running)" % (dataDir, path)) from None
    except PermissionError:
        raise Unreachable("cannot connect to %s: permission denied; run chatroom-admin as the user the "
                          "server runs as" % (path,)) from None
    except OSError as e:
        raise Unreachable("cannot connect to %s: %s" % (path, e.strerror or e)) from None
    finally:
        probe.close()
    return path


async def connect(reactor, server, timeout):
    """
    A started command link to the server's Redis, connected.

    @raise Unreachable: if it does not answer within C{timeout} seconds.
    """
    from chatroom.store.redis import commandLink

    redis = server["redis"]
    if redis is None:
        redis = {"path": embeddedSocket(server["data-dir"])}
    link = commandLink(reactor, **redis)
    link.startService()
    try:
        await link.whenConnected().addTimeout(timeout, reactor)
    except defer.TimeoutError:
        await link.stopService()
        raise Unreachable("no answer from Redis at %s within %g s" % (link.address, timeout)) from None
    return link


class Context:
    """
    What a command runs with.

    @ivar reactor: the reactor.
    @ivar store: the L{chatroom.store.admin.AdminStore}.
    @ivar server: the server's options (L{chatroom.tap.Options}).
    """

    def __init__(self, reactor, store, server):
        self.reactor = reactor
        self.store = store
        self.server = server


def _fail(args, error, code):
    if args.json:
        sys.stdout.write(json.dumps({"error": error.code, "message": str(error)}, ensure_ascii=False) + "\n")
    else:
        sys.stderr.write("chatroom-admin %s: %s\n" % (args.command, error))
    raise SystemExit(code)


async def _run(reactor, command, args, server):
    from twisted.logger import (
        FilteringLogObserver, LogLevel, LogLevelFilterPredicate, globalLogBeginner, textFileLogObserver)

    from chatroom.store.admin import AdminStore

    globalLogBeginner.beginLoggingTo(
        [FilteringLogObserver(textFileLogObserver(sys.stderr), [LogLevelFilterPredicate(LogLevel.warn)])],
        redirectStandardIO=False,
    )
    try:
        link = await connect(reactor, server, args.timeout)
    except AdminError as e:
        _fail(args, e, e.exitCode)
    try:
        result = await command.run(Context(reactor, AdminStore(link), server), args)
    except AdminError as e:
        _fail(args, e, e.exitCode)
    except errors.Unavailable:
        _fail(args, Unreachable("Redis at %s stopped answering" % (link.address,)), EXIT_UNREACHABLE)
    finally:
        await link.stopService()
    if args.json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False, sort_keys=True) + "\n")
    else:
        sys.stdout.write(command.text(result))
    sys.stdout.flush()


def main(argv=None):
    """
    C{chatroom-admin COMMAND ...}.
    """
    parser = buildParser()
    args = parser.parse_args(argv)
    command = COMMANDS[args.command]()
    try:
        server = serverOptions(args)
        # Before the reactor: a prompt for a password blocks.
        command.prepare(args, server)
    except usage.UsageError as e:
        parser.exit(EXIT_USAGE, "chatroom-admin %s: %s\n" % (args.command, e))
    task.react(lambda reactor: defer.ensureDeferred(_run(reactor, command, args, server)))
