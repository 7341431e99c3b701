# -*- test-case-name: tests.store.test_migrate -*-
"""
C{python -m chatroom.store.migrate --redis URL}: run the migration of
L{chatroom.store.migrate} alone and say what it did (this module is a
command: it prints its summary).
"""

import argparse
import sys

from twisted.internet import defer, task

from chatroom.store.migrate import BATCH, LAYOUT_VERSION, LayoutError, describe, migrate


def main(argv=None):
    """
    C{python -m chatroom.store.migrate --redis URL}: migrate and say what
    was done.
    """
    from chatroom.store.urls import parseRedisURL

    parser = argparse.ArgumentParser(
        prog="python -m chatroom.store.migrate",
        description="Migrate the data of chatroom 0.1 (keys under cr:) to the layout of this release. "
                    "A server of this release does the same at start; this runs it alone. It runs once "
                    "(later runs do nothing) and is safe to interrupt and run again.",
    )
    parser.add_argument("--redis", required=True,
                        help="redis://[:password@]host[:port][/db], unix:///path/to/socket[?db=N] or "
                             "sentinel://[:password@]host:port[,host:port...]/NAME[/db]")
    parser.add_argument("--batch", type=int, default=BATCH, help="keys per SCAN (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds to wait for Redis to answer (default %(default)s)")
    parser.add_argument("--verbose", action="store_true", help="log every step, not only warnings")
    options = parser.parse_args(argv)
    try:
        redis = parseRedisURL(options.redis)
    except ValueError as e:
        parser.error("--redis: %s" % (e,))
    if redis.get("cluster"):
        parser.error("--redis: release 0.1 ran on one Redis: migrate its data there, "
                     "before moving it to a Redis Cluster")
    task.react(lambda reactor: defer.ensureDeferred(_command(reactor, redis, options)))


async def _command(reactor, redis, options):
    from twisted.logger import (
        FilteringLogObserver, LogLevel, LogLevelFilterPredicate, globalLogBeginner, textFileLogObserver)

    from chatroom.store.connection import RedisLink

    level = LogLevel.info if options.verbose else LogLevel.warn
    globalLogBeginner.beginLoggingTo(
        [FilteringLogObserver(textFileLogObserver(sys.stderr), [LogLevelFilterPredicate(level)])],
        redirectStandardIO=False,
    )
    link = RedisLink(reactor, **redis)
    link.startService()
    try:
        try:
            await link.whenConnected().addTimeout(options.timeout, reactor)
        except defer.TimeoutError:
            sys.stderr.write("No answer from Redis at %s within %g s\n" % (link.address, options.timeout))
            raise SystemExit(1)
        try:
            counts = await migrate(link, reactor=reactor, batch=options.batch)
        except LayoutError as e:
            sys.stderr.write("Cannot migrate %s: %s\n" % (link.address, e))
            raise SystemExit(2)
    finally:
        await link.stopService()
    if counts is None:
        sys.stdout.write("%s: already layout %s, nothing to do\n" % (link.address, LAYOUT_VERSION))
    else:
        sys.stdout.write("%s: %s in %.2f s\n" % (link.address, describe(counts), counts["seconds"]))
