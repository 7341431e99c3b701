# -*- test-case-name: tests.store.test_redis_faults -*-
"""
The connection to Redis: a txredisapi factory kept connected by a service,
with one reply watchdog, and the one place that turns Redis failures into
protocol errors.
"""

import txredisapi
from twisted.application.service import Service
from twisted.internet import defer, task
from twisted.internet.endpoints import HostnameEndpoint, UNIXClientEndpoint
from twisted.logger import Logger

from chatroom import errors
from chatroom.store.scripts import _SCRIPT_ERRORS, SCRIPTS
from chatroom.store.sentinel import SentinelEndpoint


def _raiseError(reply):
    # txredisapi hands error replies and a lost connection over as values.
    if isinstance(reply, Exception):
        raise reply
    return reply


class CommandProtocol(txredisapi.HiredisProtocol):
    """
    txredisapi's connection, with a leaner way to send a command: one
    Deferred per command, straight from the reply queue, instead of two
    joined by closures and a per-command timeout (the links have one reply
    watchdog instead).  A direct message costs one command, so this is on
    the hot path.
    """

    def _build_command(self, *args, **kwargs):
        # The same bytes as txredisapi's, in a third of its time: every
        # command of the hot path is built here.
        parts = [b"*%d\r\n" % (len(args),)]
        append = parts.append
        for arg in args:
            kind = arg.__class__
            if kind is str:
                arg = arg.encode("utf-8")
            elif kind is float:
                arg = format(arg, "f").encode()
            elif kind is not bytes:
                arg = str(arg).encode() if kind is not bytearray else bytes(arg)
            append(b"$%d\r\n%b\r\n" % (len(arg), arg))
        return b"".join(parts)

    def execute_command(self, *args, **kwargs):
        if not self.connected:
            raise txredisapi.ConnectionError("Not connected")
        self.transport.write(self._build_command(*args, **kwargs))
        d = self.replyQueue.get().addCallback(_raiseError)
        postProcess = kwargs.get("post_proc")
        if callable(postProcess):
            d.addCallback(postProcess)
        return d


class _LinkFactory(txredisapi.RedisFactory):
    """
    A txredisapi factory that tells its L{RedisLink} when its connection
    comes and goes.
    """

    link = None

    def addConnection(self, conn):
        if isinstance(conn, txredisapi.SubscriberProtocol) or self.disconnectCalled or not conn.connected:
            self._added(conn)
            return
        # Load every script before the connection is used.  A restarted
        # Redis has forgotten them, and the NOSCRIPT fallback would run a
        # script after commands sent later than it: the order of commands
        # on the connection would no longer be the order of their effects.
        loads = [conn.execute_command("SCRIPT", "LOAD", script.source) for script in SCRIPTS.values()]
        if self.link.master is not None:
            # Sentinel may name a master that has just become a replica.
            loads.insert(0, conn.execute_command("ROLE").addCallback(_mustBeMaster))
        d = defer.gatherResults(loads, consumeErrors=True)
        d.addCallbacks(lambda _: self._added(conn), self._loadFailed, errbackArgs=(conn,))

    def _added(self, conn):
        super().addConnection(conn)
        if conn in self.pool:
            self.link._connectionUp(conn)

    def _loadFailed(self, failure, conn):
        # Lost again at once, or a Redis without scripting: either way this
        # connection is of no use; the ClientService reconnects.
        self.link.log.warn("Loading scripts into {name} failed: {error}", name=self.link.name,
                           error=failure.value.subFailure.getErrorMessage()
                           if isinstance(failure.value, defer.FirstError) else failure.getErrorMessage())
        if conn.transport is not None:
            conn.transport.loseConnection()

    def delConnection(self, conn):
        super().delConnection(conn)
        if not self.pool:
            self.link._connectionDown()


def _mustBeMaster(role):
    if not role or role[0] != "master":
        raise ConnectionError("not a master (%s)" % (role[0] if role else "no role",))


class RedisLink(Service):
    """
    Keeps one connection to Redis (reconnecting with backoff) and runs
    commands and scripts on it.

    Commands are written at once and their replies come back in order, so
    every request pipelines with every other without waiting.  When Redis is
    not connected a command fails at once with L{errors.Unavailable} instead
    of queueing: a client must never hang on a storage outage.

    @ivar protocol: the txredisapi protocol class of the connection (a
        C{SubscriberProtocol} subclass makes a pub/sub link).
    """

    log = Logger()
    protocol = CommandProtocol
    #: Commands take effect in the order they are written (one connection).
    ordered = True

    def __init__(self, reactor, host=None, port=6379, path=None, db=0, password=None, replyTimeout=5,
                 protocol=None, name="Redis", sentinels=None, master=None):
        """
        @param sentinels: C{(host, port)} of the Sentinels watching the
            master named C{master}, to follow it through failovers; then
            C{host}, C{port} and C{path} are not used.
        """
        self.reactor = reactor
        self.name = name
        self.master = master
        self.redisArgs = {"host": host, "port": port, "path": path, "db": db, "password": password,
                          "sentinels": sentinels, "master": master}
        if sentinels:
            self.endpoint = SentinelEndpoint(reactor, sentinels, master)
            self.address = "sentinel:%s/%s" % (",".join("%s:%d" % s for s in sentinels), master)
        elif path is not None:
            self.endpoint = UNIXClientEndpoint(reactor, path, timeout=5)
            self.address = "unix:" + path
        else:
            self.endpoint = HostnameEndpoint(reactor, host, port, timeout=5)
            self.address = "%s:%d" % (host, port)
        # No per-command reply timeout: txredisapi would schedule and cancel
        # a timer for every command (6% of the server's time in a p2p
        # benchmark).  One watchdog checks the whole connection instead.
        self.factory = _LinkFactory(
            self.address, db, 1, isLazy=True, password=password, convertNumbers=False,
        )
        self.replyTimeout = replyTimeout
        self._watchdog = task.LoopingCall(self._checkReplies)
        self._watchdog.clock = reactor
        self._oldest = None
        self.factory.link = self
        self.factory.protocol = protocol if protocol is not None else CommandProtocol
        # Reconnect quickly at first: the embedded Redis is usually only
        # a moment late, and an outage should end as soon as Redis is back.
        self.factory.initialDelay = 0.1
        self.factory.maxDelay = 5
        self._waiting = []
        self._onConnected = []
        #: On a pub/sub link, called with every message received.
        self.onMessage = None

    def startService(self):
        super().startService()
        self.factory.startConnecting(self.endpoint)
        if self.replyTimeout:
            self._watchdog.start(self.replyTimeout / 2.0, now=False)

    def stopService(self):
        super().stopService()
        if self._watchdog.running:
            self._watchdog.stop()
        d = self.factory.disconnect()
        if isinstance(self.endpoint, SentinelEndpoint):
            d.addBoth(lambda result: self.endpoint.stop().addCallback(lambda _: result))
        return d

    def setReplyTimeout(self, seconds):
        """
        Fail commands when Redis has answered nothing for C{seconds}.
        """
        self.replyTimeout = seconds
        if self._watchdog.running:
            self._watchdog.stop()
        if seconds and self.running:
            self._watchdog.start(seconds / 2.0, now=False)

    def _checkReplies(self):
        # Replies come in order: if the oldest command still waiting is the
        # one that was oldest half a timeout ago, Redis has answered nothing
        # for that long.  Drop the connection: its commands fail with
        # Unavailable at once and the link reconnects.
        oldest = None
        for conn in self.factory.pool:
            waiting = getattr(conn, "replyQueue", None)
            if waiting is not None and waiting.waiting:
                oldest = waiting.waiting[0]
                if oldest is self._oldest:
                    self.log.warn("No reply from {name} for {seconds} s; reconnecting",
                                  name=self.name, seconds=self.replyTimeout)
                    conn.transport.abortConnection()
                    oldest = None
        self._oldest = oldest

    def _connectionUp(self, conn):
        self.log.info("Connected to {name} at {address}", name=self.name, address=self.address)
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(self)
        for f in self._onConnected:
            try:
                f(conn)
            except Exception:
                self.log.failure("Hook on connecting to Redis failed")

    def _connectionDown(self):
        if self.running:
            self.log.warn("Lost {name} at {address}; reconnecting", name=self.name, address=self.address)

    def onConnected(self, f):
        """
        Call C{f(connection)} every time a connection to Redis is made
        (the first one and every reconnection).
        """
        self._onConnected.append(f)

    @property
    def connected(self):
        """
        Whether a usable connection to Redis exists now.
        """
        return any(conn.connected for conn in self.factory.pool)

    def whenConnected(self):
        """
        A Deferred that fires once Redis is connected.
        """
        if self.connected:
            return defer.succeed(self)
        d = defer.Deferred()
        self._waiting.append(d)
        return d

    def _connection(self):
        for conn in self.factory.pool:
            if conn.connected:
                return conn
        raise errors.Unavailable()

    def execute(self, *args):
        """
        Run one Redis command; a Deferred of its reply.
        """
        try:
            conn = self._connection()
            d = conn.execute_command(*args)
        except (txredisapi.ConnectionError, errors.Unavailable):
            return defer.fail(errors.Unavailable())
        return d.addErrback(_translate, conn)

    def run(self, script, keys, args):
        """
        Run a L{Script}; a Deferred of its reply.  Redis forgets scripts
        when it restarts, so a NOSCRIPT reply is answered with the source.
        """
        try:
            conn = self._connection()
            d = conn.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        except (txredisapi.ConnectionError, errors.Unavailable):
            # A failed Deferred, never an exception: callers that run
            # commands from a timer (the batch of sends) must see it too.
            return defer.fail(errors.Unavailable())
        # One errback for both (no closure per call: sends run this).
        return d.addErrback(self._scriptFailed, conn, script, keys, args)

    def _scriptFailed(self, failure, conn, script, keys, args):
        if failure.check(txredisapi.ResponseError) and "NOSCRIPT" in str(failure.value):
            d = self._connection().execute_command("EVAL", script.source, len(keys), *keys, *args)
            return d.addErrback(_translate, conn)
        return _translate(failure, conn)


def _translate(failure, conn=None):
    """
    Turn a txredisapi failure into the protocol error a client should see.
    """
    if failure.check(errors.ChatError):
        return failure
    if failure.check(txredisapi.ResponseError):
        message = str(failure.value)
        code = message.split(" ", 1)[0]
        if code == "ERR":
            # Redis 7 writes a script's error_reply('no_such_user') as
            # "ERR no_such_user"; Redis 6 without the prefix.
            message = message[4:]
            code = message.split(" ", 1)[0]
        cls = _SCRIPT_ERRORS.get(code)
        if cls is not None:
            # A script may follow the code with a sentence for the client.
            raise cls(message[len(code) + 1:] or None)
        if code == "READONLY":
            # Connected to a master that became a replica (a failover):
            # reconnect, to wherever Sentinel says the master is now.
            if conn is not None and conn.transport is not None:
                conn.transport.loseConnection()
            raise errors.Unavailable()
        return failure
    if failure.check(txredisapi.ConnectionError, ConnectionError):
        raise errors.Unavailable()
    return failure


def allOf(deferreds):
    """
    The results of C{deferreds} (commands sent together, so pipelined), in
    order; fails with the first failure if any failed.
    """
    return defer.gatherResults(deferreds, consumeErrors=True).addErrback(lambda f: f.value.subFailure)
