# -*- test-case-name: tests.test_workers -*-
"""
C{--workers N}: N server processes on one machine sharing the listening
ports, so that one command uses every core.

Each worker is a complete node (see L{chatroom.cluster}) listening with
C{SO_REUSEPORT}, so the kernel spreads new connections evenly over the
workers; they meet in Redis like nodes on different machines.  The parent
process only runs the embedded Redis (if any) and supervises the workers:
one that dies is restarted, with a growing delay if it keeps dying.
"""

import socket
import sys

from twisted.application.service import Service
from twisted.internet import defer, error, protocol
from twisted.logger import Logger

from chatroom.children import dyingWithParent

#: Run twistd in a worker process: C{python -c ... -n chatroom ...}.
_TWISTD = "from twisted.scripts.twistd import run; run()"


def parseTCP(description):
    """
    C{(port, interface, backlog)} of a C{tcp:} endpoint description.

    @raise ValueError: if it is not a plain TCP endpoint.
    """
    parts = description.split(":")
    if parts[0] != "tcp" or len(parts) < 2:
        raise ValueError("only tcp: (and haproxy:tcp:) endpoints can be shared by workers, not %r" % (description,))
    port, interface, backlog = None, "", 1024
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        if not sep:
            port = int(key)
        elif key == "port":
            port = int(value)
        elif key == "interface":
            interface = value
        elif key == "backlog":
            backlog = int(value)
        else:
            raise ValueError("unsupported tcp: parameter %r for a shared port" % (key,))
    if port is None:
        raise ValueError("no port number in %r" % (description,))
    return port, interface, backlog


def workerEndpoint(description, number):
    """
    The C{--metrics} endpoint of worker C{number} (from 1): the C{tcp:}
    port of C{description} plus C{number - 1}, on its interface.
    """
    port, interface, backlog = parseTCP(description)
    shifted = "tcp:%d" % (port + number - 1,)
    if interface:
        shifted += ":interface=" + interface
    return shifted


class SharedPortService(Service):
    """
    Listens on a TCP port with C{SO_REUSEPORT}: every process listening so
    on the same port gets a share of the new connections.
    """

    def __init__(self, reactor, description, factory):
        self.reactor = reactor
        self.port, self.interface, self.backlog = parseTCP(description)
        self.factory = factory
        self.listening = None

    def privilegedStartService(self):
        family = socket.AF_INET6 if ":" in self.interface else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((self.interface, self.port))
        sock.listen(self.backlog)
        sock.setblocking(False)
        try:
            self.listening = self.reactor.adoptStreamPort(sock.fileno(), family, self.factory)
        finally:
            # The reactor holds its own duplicate of the descriptor.
            sock.close()
        super().privilegedStartService()

    def startService(self):
        if self.listening is None:
            self.privilegedStartService()
        super().startService()

    def stopService(self):
        super().stopService()
        if self.listening is not None:
            listening, self.listening = self.listening, None
            return listening.stopListening()


class _WorkerProtocol(protocol.ProcessProtocol):
    """
    Relays a worker's output to the log and tells the pool when it exits.
    """

    def __init__(self, pool, number):
        self.pool = pool
        self.number = number
        self._partial = b""

    def outReceived(self, data):
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            self.pool.log.info("[worker {number}] {line}", number=self.number,
                               line=line.decode("utf-8", "replace").rstrip())

    errReceived = outReceived

    def processEnded(self, reason):
        self.pool._ended(self.number, reason)


class WorkerPool(Service):
    """
    Runs and supervises C{count} worker processes, each running
    C{twistd -n chatroom} with C{arguments} plus its own node id.
    """

    log = Logger()
    name = "workers"

    #: A worker that lived less than this many seconds died too soon: its
    #: restart waits twice as long as the previous one (up to maxDelay).
    threshold = 5.0
    maxDelay = 30.0

    def __init__(self, reactor, count, arguments, nodeId, env=None, metrics=None):
        """
        @param metrics: the C{--metrics} endpoint (a C{tcp:} one), or
            C{None}: worker N serves its metrics on its port + N - 1.
        """
        self.reactor = reactor
        self.metrics = metrics
        self.count = count
        self.arguments = list(arguments)
        self.nodeId = nodeId
        self.env = env
        self.processes = {}
        self._started = {}
        self._delays = {}
        self._restarts = {}
        self._exited = {}
        self._kills = {}

    def argv(self, number):
        """
        The command line of worker C{number}.
        """
        if self.metrics is None:
            # Not from a --config file either: each worker's port is its own.
            metrics = "none"
        else:
            metrics = workerEndpoint(self.metrics, number)
        return dyingWithParent(
            [sys.executable, "-c", _TWISTD, "-n", "--pidfile=", "chatroom"]
            + self.arguments
            + ["--workers=1", "--reuse-port", "--node-id=%s-w%d" % (self.nodeId, number), "--metrics=" + metrics]
        )

    def startService(self):
        super().startService()
        for number in range(1, self.count + 1):
            self._spawn(number)

    def _spawn(self, number):
        self._restarts.pop(number, None)
        argv = self.argv(number)
        self._started[number] = self.reactor.seconds()
        self.processes[number] = self.reactor.spawnProcess(
            _WorkerProtocol(self, number), argv[0], argv, env=self.env, childFDs={0: "w", 1: "r", 2: "r"}
        )
        self.log.info("Started worker {number} (pid {pid})", number=number, pid=self.processes[number].pid)

    def _ended(self, number, reason):
        self.processes.pop(number, None)
        kill = self._kills.pop(number, None)
        if kill is not None and kill.active():
            kill.cancel()
        waiter = self._exited.pop(number, None)
        if waiter is not None:
            waiter.callback(None)
        if not self.running:
            return
        lived = self.reactor.seconds() - self._started.get(number, 0)
        delay = self._delays.get(number, 0.5)
        delay = min(self.maxDelay, delay * 2) if lived < self.threshold else 1.0
        self._delays[number] = delay
        self.log.warn("Worker {number} exited ({reason}); restarting it in {delay:.1f} s",
                      number=number, reason=reason.value, delay=delay)
        self._restarts[number] = self.reactor.callLater(delay, self._spawn, number)

    def stopService(self):
        super().stopService()
        for call in self._restarts.values():
            if call.active():
                call.cancel()
        self._restarts.clear()
        waits = []
        for number, process in list(self.processes.items()):
            d = self._exited[number] = defer.Deferred()
            waits.append(d)
            try:
                process.signalProcess("TERM")
            except error.ProcessExitedAlready:
                continue
            self._kills[number] = self.reactor.callLater(10, self._kill, number)
        return defer.gatherResults(waits)

    def _kill(self, number):
        process = self.processes.get(number)
        if process is not None:
            try:
                process.signalProcess("KILL")
            except error.ProcessExitedAlready:
                pass
