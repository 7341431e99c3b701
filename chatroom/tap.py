# -*- test-case-name: tests.test_tap -*-
"""
C{twistd chatroom}: the service its options (L{chatroom.options}) make.
"""

import gc
import os

from chatroom.metrics import NO_METRICS
# The twistd plugin finds the options here, beside makeService.
from chatroom.options import Options  # noqa: F401
from chatroom.services import StackedService, StartedWhenReady
from chatroom.workers import WorkerPool


#: Allocations between two young-generation garbage collections.  Python's
#: default (700) runs the collector every few requests, and its older
#: generations then walk every connection's objects.
GC_THRESHOLD = (50000, 20, 100)


def makeService(options, reactor=None):
    """
    The chatroom server: the embedded Redis (unless --redis), the Redis
    connection, the chat service and its ports.
    """
    if reactor is None:
        from twisted.internet import reactor
    gc.set_threshold(*GC_THRESHOLD)
    from chatroom.passwords import HashingThreads, PasswordHasher
    from chatroom.ports import portService, warnIfCleartext
    from chatroom.redis_server import EmbeddedRedis
    from chatroom.server import ChatFactory, debugFactory
    from chatroom.service import ChatService
    from chatroom.store.redis import RedisStore

    top = StackedService()
    redis = options["redis"]
    if redis is None:
        embedded = EmbeddedRedis(reactor, options["data-dir"], options["appendfsync"], options["redis-binary"])
        embedded.setServiceParent(top)
        redis = {"path": embedded.socket}
    if options["workers"] > 1:
        # No secret on the workers' command lines (ps shows them): the
        # Redis URL goes in their environment, the password file by name.
        arguments = options.workerArguments()
        if options["redis"] is None:
            arguments.append("--redis=unix://" + embedded.socket)
        WorkerPool(reactor, options["workers"], arguments, options["node-id"],
                   env=options.workerEnvironment(), metrics=options["metrics"]).setServiceParent(top)
        return top
    threads = HashingThreads()
    threads.setServiceParent(top)
    hasher = PasswordHasher(reactor, threads.pool, options["hash-cost"], options["hash-memory"])
    store = RedisStore(reactor, options["node-id"], retention=options["retention"], **redis)
    metrics = NO_METRICS
    if options["metrics"] is not None:
        from chatroom.metrics import Metrics

        metrics = Metrics(options["node-id"])
    chat = ChatService(
        reactor, store, hasher, options["node-id"], presenceMaxGroup=options["presence-max-group"],
        limits=options.limits(), nodeTimeout=options["node-timeout"], admins=options.admins(),
        metrics=metrics,
    )
    chat.setServiceParent(top)
    maxFrame = options["max-frame"]
    factories = [("port", ChatFactory(chat.sessions, maxFrame)), ("debug-port", debugFactory(chat.sessions, maxFrame))]
    if options["web"] is not None:
        from chatroom.web.site import WebSite

        factories.append(("web", WebSite(chat.sessions, maxFrame, options["web-origin"] or (), reactor=reactor)))
    # The ports listen once storage is ready, and close first at the end.
    ports = StartedWhenReady(chat.ready, reactor)
    ports.setServiceParent(top)
    for name, factory in factories:
        description = options[name]
        if description is None:
            continue
        warnIfCleartext(name, description)
        portService(reactor, description, factory, shared=options["reuse-port"]).setServiceParent(ports)
    if options["metrics"] is not None:
        from chatroom.health import serveMetrics

        serveMetrics(top, options["metrics"], metrics, chat, ports, reactor)
    if options["manhole"] is not None:
        from chatroom.manhole import HOST_KEY_NAME, ManholeNamespace, makeManholeService

        makeManholeService(
            options["manhole"], ManholeNamespace(chat).asDict(),
            os.path.join(options["data-dir"], HOST_KEY_NAME),
            passwordFile=options["manhole-passwd"], keysFile=options["manhole-keys"], reactor=reactor,
            banner="chatroom node %s: helpers() lists what is at hand" % (options["node-id"],),
        ).setServiceParent(top)
    return top
