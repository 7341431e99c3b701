"""
Tests for L{chatroom.manhole}: the C{--manhole} options, the host key, and
a real C{ssh} logging in to a manhole of a running server.
"""

import os
import shutil
import stat

import pytest
import pytest_twisted
from cryptography.hazmat.primitives.asymmetric import ed25519
from twisted.conch.ssh import keys
from twisted.internet import reactor, threads
from twisted.python import usage

from chatroom.manhole import (
    HOST_KEY_NAME, ManholeNamespace, checkLoopback, loadHostKey, makeManholeService, privateSocket,
)
from chatroom.tap import Options, makeService

SSH = shutil.which("ssh")


def parse(*args):
    options = Options()
    options.parseOptions(list(args))
    return options


@pytest.fixture
def passwd(tmp_path):
    """
    A manhole password file (mode 0600) with the user 'admin'.
    """
    path = tmp_path / "manhole.passwd"
    path.write_text("# the manhole's users\nadmin:s3cret:密码\n", encoding="utf-8")
    path.chmod(0o600)
    return str(path)


@pytest.fixture
def clientKey(tmp_path):
    """
    An SSH key pair: (private key file, authorized keys file).
    """
    key = keys.Key(ed25519.Ed25519PrivateKey.generate())
    private = tmp_path / "id_ed25519"
    private.write_bytes(key.toString("openssh"))
    private.chmod(0o600)
    authorized = tmp_path / "authorized_keys"
    authorized.write_bytes(b"# who may come in\n" + key.public().toString("openssh") + b" test@example\n")
    return str(private), str(authorized)


# Options.

def test_offByDefault():
    """
    Without --manhole there is none, and makeService adds no manhole.
    """
    options = parse()
    assert options["manhole"] is None
    assert options["manhole-passwd"] is None and options["manhole-keys"] is None


def test_manholeOptions(passwd, clientKey):
    """
    --manhole on loopback with a password file, a keys file or both is
    accepted; the files are made absolute.
    """
    options = parse("--manhole", "tcp:2222:interface=127.0.0.1", "--manhole-passwd", passwd)
    assert options["manhole"] == "tcp:2222:interface=127.0.0.1"
    assert options["manhole-passwd"] == passwd
    options = parse("--manhole", "tcp6:2222:interface=\\:\\:1", "--manhole-keys", clientKey[1])
    assert options["manhole-keys"] == clientKey[1]
    parse("--manhole", "unix:/tmp/chatroom-manhole.sock", "--manhole-passwd", passwd,
          "--manhole-keys", clientKey[1])


@pytest.mark.parametrize("description", [
    "tcp:2222", "tcp:port=2222", "tcp:2222:interface=0.0.0.0", "tcp:2222:interface=192.0.2.1",
    "tcp6:2222:interface=\\:\\:", "ssl:2222:interface=127.0.0.1", "tcp:2222:interface=localhost",
])
def test_notLoopbackRefused(passwd, description):
    """
    A manhole that would listen beyond loopback is a usage error that says
    why.
    """
    with pytest.raises(usage.UsageError) as e:
        parse("--manhole", description, "--manhole-passwd", passwd)
    assert "loopback" in str(e.value)


def test_checkLoopbackAccepts():
    """
    Loopback addresses of both families and unix sockets pass.
    """
    for description in ("tcp:0:interface=127.0.0.1", "tcp:2222:interface=127.0.0.2",
                        "tcp6:2222:interface=\\:\\:1", "unix:/tmp/m.sock"):
        checkLoopback(description)


@pytest.mark.parametrize("description", ["unix:/tmp/m.sock:mode=666", "unix:/tmp/m.sock:660",
                                         "unix:address=/tmp/m.sock:mode=644"])
def test_unixSocketOpenToOthersRefused(passwd, description):
    """
    A C{unix:} manhole with a mode that lets other users connect is a
    usage error.
    """
    with pytest.raises(usage.UsageError) as e:
        parse("--manhole", description, "--manhole-passwd", passwd)
    assert "other users" in str(e.value) and "mode=600" in str(e.value)


@pytest.mark.parametrize("description, expected", [
    ("unix:{}", "unix:{}:mode=600"),
    ("unix:{}:lockfile=0", "unix:{}:lockfile=0:mode=600"),
    ("unix:{}:mode=600", "unix:{}:mode=600"),
    ("unix:{}:400", "unix:{}:400"),
    ("tcp:0:interface=127.0.0.1", "tcp:0:interface=127.0.0.1"),
])
def test_privateSocket(description, expected):
    """
    A C{unix:} description without a mode gets mode=600 (Twisted's default
    is 0666); others are left as they are.
    """
    assert privateSocket(description.format("/run/m.sock")) == expected.format("/run/m.sock")


@pytest.mark.parametrize("umask", [0o022, 0o000])
@pytest_twisted.ensureDeferred
async def test_unixSocketIsPrivate(tmp_path, passwd, umask):
    """
    A C{unix:} manhole socket is 0600 whatever the umask: only the
    server's user may connect to it.
    """
    path = str(tmp_path / "manhole.sock")
    old = os.umask(umask)
    try:
        service = makeManholeService("unix:" + path, {}, str(tmp_path / "key"), passwordFile=passwd,
                                     reactor=reactor)
        service.startService()
    finally:
        os.umask(old)
    try:
        await service._waitingForPort
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        await service.stopService()


def test_needsPasswordOrKeys():
    """
    --manhole without --manhole-passwd or --manhole-keys is refused.
    """
    with pytest.raises(usage.UsageError) as e:
        parse("--manhole", "tcp:2222:interface=127.0.0.1")
    assert "--manhole-passwd" in str(e.value)


def test_filesWithoutManholeRefused(passwd):
    """
    --manhole-passwd alone is a mistake worth telling.
    """
    with pytest.raises(usage.UsageError) as e:
        parse("--manhole-passwd", passwd)
    assert "--manhole" in str(e.value)


def test_badFilesRefused(tmp_path, passwd):
    """
    A missing, empty or malformed password or keys file, and a password
    file others may read, are refused at startup, not at first login.
    """
    empty = tmp_path / "empty"
    empty.write_text("# nobody\n")
    empty.chmod(0o600)
    noColon = tmp_path / "nocolon"
    noColon.write_text("admin\n")
    noColon.chmod(0o600)
    badKey = tmp_path / "badkey"
    badKey.write_text("ssh-ed25519 notakey\n")
    for args in (["--manhole-passwd", str(tmp_path / "missing")], ["--manhole-passwd", str(empty)],
                 ["--manhole-passwd", str(noColon)], ["--manhole-keys", str(badKey)]):
        with pytest.raises(usage.UsageError):
            parse("--manhole", "tcp:2222:interface=127.0.0.1", *args)
    os.chmod(passwd, 0o644)
    with pytest.raises(usage.UsageError) as e:
        parse("--manhole", "tcp:2222:interface=127.0.0.1", "--manhole-passwd", passwd)
    assert "chmod 600" in str(e.value)


def test_workersRefused(passwd):
    """
    One manhole port cannot serve several worker processes.
    """
    with pytest.raises(usage.UsageError) as e:
        parse("--manhole", "tcp:2222:interface=127.0.0.1", "--manhole-passwd", passwd, "--workers", "2")
    assert "--workers" in str(e.value)


def test_makeServiceAddsManhole(tmp_path, passwd):
    """
    With --manhole, makeService listens on it (last, so it closes first) and
    keeps the host key in the data directory.
    """
    from tests.support.fakes import FakeReactor

    options = parse("--redis", "redis://127.0.0.1:6379", "--data-dir", str(tmp_path / "data"),
                    "--manhole", "tcp:2222:interface=127.0.0.1", "--manhole-passwd", passwd)
    top = makeService(options, FakeReactor())
    manhole = list(top)[-1]
    assert manhole.endpoint.endpoint._port == 2222
    assert manhole.endpoint.endpoint._interface == "127.0.0.1"
    assert (tmp_path / "data" / HOST_KEY_NAME).exists()


# The host key.

def test_hostKeyMadeOnceAndReused(tmp_path):
    """
    The first start makes a private host key only its owner can read; later
    starts use the same key.
    """
    path = str(tmp_path / "data" / HOST_KEY_NAME)
    first = loadHostKey(path)
    assert first.isPublic() is False
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path, "rb") as f:
        content = f.read()
    second = loadHostKey(path)
    assert second.fingerprint() == first.fingerprint()
    with open(path, "rb") as f:
        assert f.read() == content


# The namespace, without SSH.

@pytest_twisted.ensureDeferred
async def test_namespace(chat):
    """
    online(), sessions(), nodes() and redisInfo() describe the live server.
    """
    alice = await chat.user("张三")
    await chat.user("张三", register=False)
    await chat.client()
    namespace = ManholeNamespace(chat.service)
    assert namespace.online() == {"张三": 2}
    rows = namespace.sessions()
    assert sorted(str(row["user"]) for row in rows) == ["None", "张三", "张三"]
    assert all(row["peer"].startswith("127.0.0.1:") and row["queued"] == 0 and row["pending"] == 0 for row in rows)
    assert namespace.nodes() == ["test-node"]
    info = await namespace.redisInfo()
    assert info["connected"] is True and info["ping_ms"] >= 0 and "redis_version" in info
    names = namespace.asDict()
    assert names["registry"] is chat.service.registry and names["store"] is chat.service.store
    await alice.request("logout")
    assert namespace.online() == {"张三": 1}


# A real ssh client.

def _sshArguments(port, user, *extra):
    return [
        "-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR", "-o", "IdentityAgent=none", "-o", "NumberOfPasswordPrompts=1",
        "-o", "ConnectTimeout=5", "-p", str(port), *extra, "%s@127.0.0.1" % (user,),
    ]


def _passwordSession(port, password, commands):
    """
    Log in with C{password} and type C{commands}, each waiting for its
    pattern; runs in a thread (pexpect blocks).  What the terminal showed.
    """
    import pexpect

    child = pexpect.spawn(SSH, _sshArguments(
        port, "admin", "-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no"),
        timeout=8, encoding="utf-8")
    try:
        child.expect("password:")
        child.sendline(password)
        index = child.expect([">>> ", "Permission denied", pexpect.EOF])
        if index != 0:
            return "refused: " + child.before + child.after if isinstance(child.after, str) else "refused"
        seen = child.before
        for command, pattern in commands:
            child.send(command + "\r")
            child.expect(pattern)
            seen += child.before + child.after
        child.send("\x04")
        child.expect(pexpect.EOF)
        return seen
    finally:
        child.close(force=True)


def _keySession(port, privateKey, command, pattern):
    import pexpect

    child = pexpect.spawn(SSH, _sshArguments(
        port, "anyone", "-i", privateKey, "-o", "IdentitiesOnly=yes",
        "-o", "PreferredAuthentications=publickey", "-o", "BatchMode=yes"), timeout=8, encoding="utf-8")
    try:
        child.expect(">>> ")
        child.send(command + "\r")
        child.expect(pattern)
        return child.before + child.after
    finally:
        child.close(force=True)


async def _startManhole(chat, tmp_path, **files):
    service = makeManholeService(
        "tcp:0:interface=127.0.0.1", ManholeNamespace(chat.service).asDict(),
        str(tmp_path / HOST_KEY_NAME), reactor=reactor, banner="chatroom node test-node", **files)
    service.startService()
    return service, service.endpoint.port.getHost().port


@pytest.mark.skipif(SSH is None, reason="no ssh client on PATH")
@pytest_twisted.ensureDeferred
async def test_sshPassword(chat, tmp_path, passwd):
    """
    A real ssh logs in with the password, sees the banner, and online()
    shows the users logged in to the server; a Deferred's result is shown
    when it fires.  A wrong password is refused.
    """
    pytest.importorskip("pexpect")
    await chat.user("alice")
    await chat.user("李四")
    service, port = await _startManhole(chat, tmp_path, passwordFile=passwd)
    try:
        seen = await threads.deferToThread(_passwordSession, port, "s3cret:密码", [
            ("online()", r"\{'alice': 1, '李四': 1\}"),
            ("redisInfo()", r"Deferred #0 called back: \{'address'.*'connected': True"),
            ("len(service.sessions)", r"\r\n2\r\n"),
        ])
        # Shown after the terminal reset that clears the screen, not before.
        assert "chatroom node test-node" in seen.split("\x1bc")[-1]
        refused = await threads.deferToThread(_passwordSession, port, "wrong", [])
        assert refused.startswith("refused")
    finally:
        await service.stopService()


@pytest.mark.skipif(SSH is None, reason="no ssh client on PATH")
@pytest_twisted.ensureDeferred
async def test_sshKey(chat, tmp_path, clientKey):
    """
    A key listed in the keys file logs in (whatever the user name); nodes()
    answers.
    """
    pytest.importorskip("pexpect")
    service, port = await _startManhole(chat, tmp_path, keysFile=clientKey[1])
    try:
        seen = await threads.deferToThread(_keySession, port, clientKey[0], "nodes()", r"\['test-node'\]")
        assert "['test-node']" in seen
    finally:
        await service.stopService()
