"""
Tests for the configuration of C{twistd chatroom}: the C{--config} file,
C{CHATROOM_REDIS_URL}, C{--redis-password-file}, C{--print-config}
(L{chatroom.config} and L{chatroom.tap.Options}), and the command lines of
C{--workers}.
"""

import os

import pytest
from twisted.python import usage

from chatroom.config import REDIS_URL_ENV, maskURL, tomllib
from chatroom.tap import Options, makeService
from chatroom.workers import WorkerPool

from tests.support.fakes import FakeReactor

CONTRIB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "contrib", "chatroom.toml")


@pytest.fixture(autouse=True)
def noRedisURL(monkeypatch):
    """
    No C{CHATROOM_REDIS_URL} unless a test sets it.
    """
    monkeypatch.delenv(REDIS_URL_ENV, raising=False)


def parse(*args):
    options = Options()
    options.parseOptions(list(args))
    return options


def config(tmp_path, text, name="chatroom.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def passwordFile(tmp_path, password="s3cret", mode=0o600):
    path = tmp_path / "redis-password"
    path.write_text(password + "\n")
    os.chmod(path, mode)
    return str(path)


def test_fileGivesOptions(tmp_path):
    """
    The file's keys are the long option names; values are checked and
    converted as on the command line, flags are booleans.
    """
    path = config(tmp_path, 'port = "tcp:9000"\nmax-frame = 2048\nidle-timeout = 12.5\n'
                            'send-limit = "5/1"\nlimit-loopback = true\nreuse-port = false\n'
                            'node-id = "n1"\nredis = "redis://db.example:6380/2"\n')
    options = parse("--config", path)
    assert options["port"] == "tcp:9000"
    assert options["max-frame"] == 2048
    assert options["idle-timeout"] == 12.5
    assert str(options["send-limit"]) == "5/1"
    assert options["limit-loopback"] and not options["reuse-port"]
    assert options["node-id"] == "n1"
    assert options["redis"] == {"host": "db.example", "port": 6380, "db": 2, "password": None}
    assert options.limits().limitLoopback


def test_flagOverEnvironmentOverFile(tmp_path, monkeypatch):
    """
    A command-line flag wins over the environment, which wins over the
    file, which wins over the default.
    """
    path = config(tmp_path, 'redis = "redis://file.example"\nmax-frame = 2048\nretention = 500\n')
    options = parse("--config", path, "--max-frame", "4096")
    assert options["max-frame"] == 4096
    assert options["retention"] == 500
    assert options["hash-cost"] == 2
    assert options["redis"]["host"] == "file.example"

    monkeypatch.setenv(REDIS_URL_ENV, "redis://env.example")
    assert parse("--config", path)["redis"]["host"] == "env.example"
    assert parse("--config", path, "--redis", "redis://flag.example")["redis"]["host"] == "flag.example"
    assert parse()["redis"]["host"] == "env.example"


def test_flagOverFileWhateverTheOrder(tmp_path):
    """
    A flag given before C{--config} still wins over the file.
    """
    path = config(tmp_path, 'port = "tcp:9000"\nlimit-loopback = false\n')
    options = parse("--port", "tcp:9001", "--limit-loopback", "--config", path)
    assert options["port"] == "tcp:9001"
    assert options["limit-loopback"]


@pytest.mark.parametrize("text, words", [
    ('prot = "tcp:9000"\n', ["prot", "unknown key"]),
    ('config = "other.toml"\n', ["config", "unknown key"]),
    ('print-config = true\n', ["print-config", "unknown key"]),
    ('[server]\nport = "tcp:9000"\n', ["server", "unknown key"]),
    ('max-frame = "big"\n', ["max-frame", "whole number"]),
    ('max-frame = 100\n', ["max-frame", "1024"]),
    ('max-frame = true\n', ["max-frame"]),
    ('port = 8889\n', ["port", "string"]),
    ('port = "nonsense:1"\n', ["port", "endpoint"]),
    ('limit-loopback = "yes"\n', ["limit-loopback", "true or false"]),
    ('appendfsync = "no"\n', ["appendfsync", "everysec"]),
    ('node-id = "has space"\n', ["node-id"]),
    ('redis = "http://localhost"\n', ["redis"]),
    ('send-limit = "fast"\n', ["send-limit", "BURST/RATE"]),
    ('port = \n', ["not valid TOML"]),
])
def test_badFile(tmp_path, text, words):
    """
    An unknown key or a bad value is a usage error naming the file and the
    key.
    """
    path = config(tmp_path, text)
    with pytest.raises(usage.UsageError) as info:
        parse("--config", path)
    message = str(info.value)
    assert path in message
    for word in words:
        assert word in message


def test_missingFile(tmp_path):
    """
    A C{--config} file that cannot be read is a usage error.
    """
    with pytest.raises(usage.UsageError) as info:
        parse("--config", str(tmp_path / "nowhere.toml"))
    assert "nowhere.toml" in str(info.value)


def test_badEnvironment(monkeypatch):
    """
    A bad C{CHATROOM_REDIS_URL} is a usage error naming the variable, with
    its password masked.
    """
    monkeypatch.setenv(REDIS_URL_ENV, "http://:hunter2@localhost")
    with pytest.raises(usage.UsageError) as info:
        parse()
    assert REDIS_URL_ENV in str(info.value)
    assert "hunter2" not in str(info.value)


def test_passwordFile(tmp_path):
    """
    C{--redis-password-file} puts the first line of a 0600 file into the
    Redis arguments, in place of any password in the URL.
    """
    path = passwordFile(tmp_path)
    options = parse("--redis", "redis://db.example", "--redis-password-file", path)
    assert options["redis"] == {"host": "db.example", "port": 6379, "db": 0, "password": "s3cret"}
    options = parse("--redis", "redis-cluster://:old@h:7000", "--redis-password-file", path)
    assert options["redis"]["password"] == "s3cret"
    fromFile = config(tmp_path, 'redis = "redis://db.example"\nredis-password-file = "%s"\n' % (path,))
    assert parse("--config", fromFile)["redis"]["password"] == "s3cret"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_passwordFileOpenToOthers(tmp_path, mode):
    """
    A password file that group or other users can read is refused.
    """
    path = passwordFile(tmp_path, mode=mode)
    with pytest.raises(usage.UsageError) as info:
        parse("--redis", "redis://db.example", "--redis-password-file", path)
    assert "chmod 600" in str(info.value)
    assert "s3cret" not in str(info.value)


def test_passwordFileProblems(tmp_path):
    """
    A missing or empty password file, or one without C{--redis}, is a
    usage error.
    """
    with pytest.raises(usage.UsageError, match="cannot read"):
        parse("--redis", "redis://h", "--redis-password-file", str(tmp_path / "none"))
    with pytest.raises(usage.UsageError, match="no password"):
        parse("--redis", "redis://h", "--redis-password-file", passwordFile(tmp_path, password=""))
    with pytest.raises(usage.UsageError, match="only of use with --redis"):
        parse("--data-dir", str(tmp_path / "data"), "--redis-password-file", passwordFile(tmp_path))


@pytest.mark.parametrize("url, masked", [
    ("redis://:s3cret@h:6379/1", "redis://:***@h:6379/1"),
    ("redis://user:s3cret@h", "redis://user:***@h"),
    ("redis://s3cret@h", "redis://***@h"),
    ("sentinel://:p%40ss@a:26379,b:26379/mymaster", "sentinel://:***@a:26379,b:26379/mymaster"),
    ("redis-cluster://:a@b@h:7000", "redis-cluster://:***@h:7000"),
    ("redis://h:6379", "redis://h:6379"),
    ("unix:///run/redis.sock?db=2", "unix:///run/redis.sock?db=2"),
])
def test_maskURL(url, masked):
    """
    L{maskURL} hides a URL's password.
    """
    assert maskURL(url) == masked


def printConfig(capsys, *args):
    with pytest.raises(SystemExit) as info:
        parse("--print-config", *args)
    assert info.value.code == 0
    out = capsys.readouterr().out
    return out, tomllib.loads(out)


def test_printConfig(tmp_path, capsys, monkeypatch):
    """
    C{--print-config} prints every option with its effective value as
    TOML, the Redis password masked, and exits 0.
    """
    path = config(tmp_path, 'max-frame = 2048\nretention = 500\nlimit-loopback = true\n')
    monkeypatch.setenv(REDIS_URL_ENV, "redis://:hunter2@db.example/1")
    out, table = printConfig(capsys, "--config", path, "--retention", "700", "--debug-port", "none")
    assert "hunter2" not in out
    assert table["redis"] == "redis://:***@db.example/1"
    assert table["max-frame"] == 2048
    assert table["retention"] == 700
    assert table["limit-loopback"] is True
    assert table["debug-port"] == "none"
    assert table["send-limit"] == "30/10"
    assert table["port"] == "tcp:8889"
    # Each line says where its value came from.
    assert "max-frame = 2048  # %s" % (path,) in out
    assert "retention = 700  # --retention" in out
    assert "# %s" % (REDIS_URL_ENV,) in out
    # Every option a file may hold is there (set, or a comment if not).
    for key in Options().defaults:
        if key not in Options.commandLineOnly:
            assert key in table or "# %s is not set" % (key,) in out


def test_printConfigPasswordFile(tmp_path, capsys):
    """
    With a password file, C{--print-config} shows its path, never the
    password.
    """
    path = passwordFile(tmp_path)
    out, table = printConfig(capsys, "--redis", "redis://:old@db.example", "--redis-password-file", path)
    assert "s3cret" not in out and "old" not in out
    assert table["redis-password-file"] == path


def test_printConfigIsAConfigFile(tmp_path, capsys):
    """
    What C{--print-config} prints can be read back with C{--config}, and
    gives the same configuration.
    """
    out, table = printConfig(capsys, "--max-frame", "4096", "--debug-port", "none", "--limit-loopback",
                             "--data-dir", str(tmp_path / "data"), "--send-limit", "none",
                             "--web", "none", "--web-origin", "https://聊天.example", "--web-origin", "http://b.example:81")
    assert table["web"] == "none"
    assert table["web-origin"] == ["https://聊天.example", "http://b.example:81"]
    _, again = printConfig(capsys, "--config", config(tmp_path, out))
    assert again == table


def test_webOriginsInTheFile(tmp_path):
    """
    C{web-origin} in the file is a list of strings (or one string); the
    command line's replace the file's; workers are given each on its own.
    """
    path = config(tmp_path, 'web = "tcp:8081"\nweb-origin = ["https://a.example", "https://b.example"]\n')
    options = parse("--config", path)
    assert options["web"] == "tcp:8081"
    assert options["web-origin"] == ["https://a.example", "https://b.example"]
    assert options.workerArguments() == ["--config=%s" % (path,)]
    options = parse("--config", path, "--web-origin", "https://c.example")
    assert options["web-origin"] == ["https://c.example"]
    assert options.workerArguments() == ["--config=%s" % (path,), "--web-origin=https://c.example"]
    assert parse("--config", config(tmp_path, 'web-origin = "https://d.example"\n'))["web-origin"] == [
        "https://d.example"]
    for bad in ('web-origin = [1]\n', 'web-origin = []\n', 'web-origin = ["ftp://x"]\n', 'web-origin = true\n'):
        with pytest.raises(usage.UsageError) as info:
            parse("--config", config(tmp_path, bad))
        assert "web-origin" in str(info.value)


def test_contribFileIsTheDefaults(capsys):
    """
    C{contrib/chatroom.toml} is a valid file and holds nothing but the
    defaults.
    """
    with open(CONTRIB, "rb") as f:
        table = tomllib.load(f)
    assert table == {}  # every option is there, commented out
    with open(CONTRIB) as f:
        commented = {line[2:].split(" = ")[0] for line in f if line.startswith("# ") and " = " in line}
    options = Options()
    assert {key for key in options.defaults if key not in Options.commandLineOnly} <= commented


def workerCommandLines(options):
    """
    The command lines and environment of the workers that
    C{makeService(options)} would start.
    """
    top = makeService(options, FakeReactor())
    pool = top.getServiceNamed("workers")
    assert isinstance(pool, WorkerPool)
    return [pool.argv(number) for number in range(1, pool.count + 1)], pool.env


def test_workersGetNoSecretsOnTheirCommandLine(tmp_path):
    """
    Workers get the other options the server was given, but the Redis URL
    (which may hold a password) in their environment, never in argv.
    """
    options = parse("--redis", "redis://:hunter2@db.example:6380/1", "--workers", "3",
                    "--max-frame", "2048", "--limit-loopback", "--data-dir", str(tmp_path))
    argvs, env = workerCommandLines(options)
    assert len(argvs) == 3
    for argv in argvs:
        assert not any("hunter2" in arg for arg in argv)
        assert not any(arg.startswith("--redis") for arg in argv)
        assert "--max-frame=2048" in argv and "--limit-loopback" in argv
        assert "--workers=1" in argv
    assert env[REDIS_URL_ENV] == "redis://:hunter2@db.example:6380/1"

    # A worker parsing those arguments with that environment gets the
    # same Redis.
    worker = Options()
    os.environ[REDIS_URL_ENV] = env[REDIS_URL_ENV]
    try:
        worker.parseOptions(argvs[0][argvs[0].index("chatroom") + 1:])
    finally:
        del os.environ[REDIS_URL_ENV]
    assert worker["redis"] == options["redis"]
    assert worker["max-frame"] == 2048


def test_workersAndPasswordFile(tmp_path):
    """
    With C{--redis-password-file} and C{--config}, workers are given the
    paths, never the password.
    """
    password = passwordFile(tmp_path)
    path = config(tmp_path, 'redis = "redis://db.example"\nworkers = 2\n')
    options = parse("--config", path, "--redis-password-file", password)
    assert options["redis"]["password"] == "s3cret"
    argvs, env = workerCommandLines(options)
    for argv in argvs:
        assert not any("s3cret" in arg for arg in argv)
        assert "--config=%s" % (path,) in argv
        assert "--redis-password-file=%s" % (password,) in argv
    assert env[REDIS_URL_ENV] == "redis://db.example"
    assert "s3cret" not in repr(env)


def test_workersWithEmbeddedRedis(tmp_path, monkeypatch):
    """
    With the embedded Redis, workers are pointed at its socket on their
    command line (no secret there) and no C{CHATROOM_REDIS_URL}.
    """
    options = parse("--workers", "2", "--data-dir", str(tmp_path))
    argvs, env = workerCommandLines(options)
    for argv in argvs:
        assert "--redis=unix://%s" % (os.path.join(str(tmp_path), "redis.sock"),) in argv or any(
            arg.startswith("--redis=unix://") for arg in argv)
    assert REDIS_URL_ENV not in env


def test_admins(tmp_path):
    """
    C{--admin} may be repeated; a file gives a list (or one name); the
    names are NFC-normalised; the command line wins over the file.
    """
    assert parse().admins() == frozenset()
    options = parse("--admin", "张三", "--admin", "ops", "--admin", "Cafe\u0301")
    assert options.admins() == {"张三", "ops", "Caf\u00e9"}
    path = config(tmp_path, 'admin = ["李四", "root"]\n')
    assert parse("--config", path).admins() == {"李四", "root"}
    assert parse("--config", config(tmp_path, 'admin = "李四"\n', "one.toml")).admins() == {"李四"}
    assert parse("--config", path, "--admin", "ops").admins() == {"ops"}


@pytest.mark.parametrize("args, text, words", [
    (("--admin", "no spaces"), None, ["--admin", "may hold only letters"]),
    ((), 'admin = ["ok", 7]\n', ["key 'admin'", "list"]),
    ((), 'admin = 7\n', ["key 'admin'", "list"]),
])
def test_badAdmins(tmp_path, args, text, words):
    """
    An admin name that is not a valid user name is refused at start.
    """
    if text is not None:
        args = ("--config", config(tmp_path, text)) + args
    with pytest.raises(usage.UsageError) as info:
        parse(*args)
    for word in words:
        assert word in str(info.value)


def test_adminsPrintedAndGivenToWorkers(tmp_path, capsys):
    """
    C{--print-config} shows the admins as a TOML list that reads back the
    same; every worker gets every C{--admin}.
    """
    out, table = printConfig(capsys, "--admin", "张三", "--admin", "ops")
    assert table["admin"] == ["ops", "张三"]
    _, again = printConfig(capsys, "--config", config(tmp_path, out))
    assert again == table
    argvs, _ = workerCommandLines(parse("--admin", "张三", "--admin", "ops", "--workers", "2",
                                        "--data-dir", str(tmp_path)))
    for argv in argvs:
        assert "--admin=张三" in argv and "--admin=ops" in argv


def test_metricsOption(tmp_path, capsys):
    """
    C{--metrics} is off by default, can be set in the file (checked as an
    endpoint there too), and C{--print-config} shows it.
    """
    assert parse()["metrics"] is None
    assert parse("--metrics", "none")["metrics"] is None
    path = config(tmp_path, 'metrics = "tcp:9100:interface=127.0.0.1"\n')
    assert parse("--config", path)["metrics"] == "tcp:9100:interface=127.0.0.1"
    assert parse("--config", path, "--metrics", "tcp:9200")["metrics"] == "tcp:9200"
    out, table = printConfig(capsys, "--config", path)
    assert table["metrics"] == "tcp:9100:interface=127.0.0.1"
    assert 'metrics = "tcp:9100:interface=127.0.0.1"  # %s' % (path,) in out
    out, table = printConfig(capsys)
    assert "metrics" not in table and "# metrics is not set" in out

    with pytest.raises(usage.UsageError) as info:
        parse("--config", config(tmp_path, 'metrics = "http:9100"\n', "bad.toml"))
    assert "metrics" in str(info.value) and "bad.toml" in str(info.value)


def test_workersServeMetricsOnTheirOwnPorts(tmp_path):
    """
    With C{--workers}, worker N gets C{--metrics} on the given port + N - 1
    (from the command line or the file), and C{none} without it, so that no
    two workers try one port; the port must be a number.
    """
    path = config(tmp_path, 'metrics = "tcp:9100:interface=127.0.0.1"\nworkers = 3\n')
    options = parse("--config", path, "--data-dir", str(tmp_path))
    argvs, _ = workerCommandLines(options)
    for number, argv in enumerate(argvs, 1):
        given = [arg for arg in argv if arg.startswith("--metrics")]
        assert given == ["--metrics=tcp:%d:interface=127.0.0.1" % (9099 + number,)]
        worker = Options()
        worker.parseOptions(argv[argv.index("chatroom") + 1:])
        assert worker["metrics"] == "tcp:%d:interface=127.0.0.1" % (9099 + number,)

    argvs, _ = workerCommandLines(parse("--workers", "2", "--data-dir", str(tmp_path)))
    assert all([arg for arg in argv if arg.startswith("--metrics")] == ["--metrics=none"] for argv in argvs)

    for bad in ("tcp:0", "unix:/tmp/metrics.sock"):
        with pytest.raises(usage.UsageError) as info:
            parse("--workers", "2", "--metrics", bad, "--data-dir", str(tmp_path))
        assert "--metrics" in str(info.value)
