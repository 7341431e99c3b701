# -*- test-case-name: tests.handlers.test_names -*-
"""
C{python -m chatroom.store.names_report --redis URL}: list the existing
user and group names that are the same name under the 1.1 rules (case,
width, invisible characters, lookalikes): accounts made before the rules
keep working, and an operator may want to look at them.  This module is a
command: it prints.
"""

import argparse
import sys

from twisted.internet import defer, task

from chatroom.store.names import accountNames, collisions, groupNames


async def report(link):
    """
    C{{"users": [[name, ...], ...], "groups": [...]}}: the sets of existing
    names that are the same name (what the command prints; also for the
    manhole or an admin tool).
    """
    return {"users": collisions(await accountNames(link)), "groups": collisions(await groupNames(link))}


def main(argv=None):
    """
    Print the colliding names, one set a line.
    """
    from chatroom.store.urls import parseRedisURL

    parser = argparse.ArgumentParser(
        prog="python -m chatroom.store.names_report",
        description="List user and group names that are the same name under the name rules of "
                    "protocol 1.1 (they keep working; new lookalikes are refused).")
    parser.add_argument("--redis", required=True, help="a Redis URL, as for twistd chatroom --redis")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for Redis")
    options = parser.parse_args(argv)
    try:
        redis = parseRedisURL(options.redis)
    except ValueError as e:
        parser.error("--redis: %s" % (e,))
    task.react(lambda reactor: defer.ensureDeferred(_command(reactor, redis, options)))


async def _command(reactor, redis, options):
    from chatroom.store.connection import RedisLink
    from chatroom.store.routing import ClusterLink

    cluster = redis.pop("cluster", None)
    link = ClusterLink(reactor, cluster, **redis) if cluster else RedisLink(reactor, **redis)
    link.startService()
    try:
        try:
            await link.whenConnected().addTimeout(options.timeout, reactor)
        except defer.TimeoutError:
            sys.stderr.write("No answer from Redis within %g s\n" % (options.timeout,))
            raise SystemExit(1)
        found = await report(link)
    finally:
        await link.stopService()
    for kind in ("users", "groups"):
        for names in found[kind]:
            sys.stdout.write("%s: %s\n" % (kind, "  ".join(names)))
    if not (found["users"] or found["groups"]):
        sys.stdout.write("no colliding names\n")


if __name__ == "__main__":
    main()
