# -*- test-case-name: tests.test_manhole -*-
"""
C{--manhole}: a Python prompt inside the running server, over SSH.

The classic Twisted way of looking at a live process: C{ssh} to a loopback
port, log in with a password from C{--manhole-passwd} or a key from
C{--manhole-keys}, and type Python that runs in the reactor's thread with
the chat service at hand (L{ManholeNamespace} says what is there).

Whatever is typed runs in the reactor thread: a loop that blocks stops the
whole server for as long as it runs.
"""

import hmac
import ipaddress
import os
import re

from cryptography.hazmat.primitives.asymmetric import ed25519
from twisted.application import strports
from twisted.conch import manhole, manhole_ssh
from twisted.conch.checkers import IAuthorizedKeysDB, SSHPublicKeyChecker, readAuthorizedKeyFile
from twisted.conch.insults import insults
from twisted.conch.ssh import keys
from twisted.cred import credentials, error
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.portal import Portal
from twisted.internet import defer
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.logger import Logger
from zope.interface import implementer

from chatroom.connections import pendingBytes

#: The host key's file name in the data directory.
HOST_KEY_NAME = "manhole_host_key"


def checkLoopback(description):
    """
    Refuse an endpoint description the manhole must not listen on: only
    C{unix:} sockets and C{tcp:}/C{tcp6:} ports with an C{interface=} on
    loopback are accepted.

    @raise ValueError: with the reason, for the user.
    """
    kind, _, rest = description.partition(":")
    kind = kind.lower()
    if kind == "unix":
        mode = _unixMode(rest)
        if mode is not None and mode & 0o077:
            raise ValueError(
                "mode=%s lets other users connect to the manhole socket; leave mode out (it is "
                "made 0600) or give mode=600" % (format(mode, "o"),))
        return
    if kind not in ("tcp", "tcp6"):
        raise ValueError(
            "the manhole listens only on loopback, tcp:PORT:interface=127.0.0.1 (or ::1), or on unix:PATH, "
            "not %r"
            % (description,))
    interface = None
    # Twisted's descriptions escape ':' inside a value as '\:' (tcp6).
    for part in rest.replace("\\:", "\0").split(":"):
        key, sep, value = part.partition("=")
        if sep and key == "interface":
            interface = value.replace("\0", ":")
    if not interface:
        raise ValueError(
            "%r listens on every interface; the manhole runs any Python it is given, so it must "
            "listen on loopback only: add :interface=127.0.0.1 (or interface=\\:\\:1 for tcp6)"
            % (description,))
    try:
        loopback = ipaddress.ip_address(interface).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError("interface=%s is not a loopback address; the manhole listens only on "
                         "127.0.0.1, ::1 or a unix socket" % (interface,))


def _unixMode(rest):
    # The mode= of a unix: description's parameters (after "unix:"), or
    # None; ':' inside a value is escaped as '\:'.
    # Positional parameters are the path, then the mode.
    positional = []
    mode = None
    for part in re.split(r"(?<!\\):", rest):
        key, sep, value = part.partition("=")
        if sep and key == "mode":
            mode = value
        elif not sep:
            positional.append(part)
    if mode is None and len(positional) > 1:
        mode = positional[1]
    if mode is None:
        return None
    try:
        return int(mode, 8)
    except ValueError:
        raise ValueError("mode=%s is not an octal mode" % (mode,)) from None


def privateSocket(description):
    """
    C{description} with C{mode=600} added if it is a C{unix:} socket without
    a mode: Twisted makes unix sockets 0666 (any local user could connect
    and knock on the manhole's door) unless told otherwise.
    """
    kind, _, rest = description.partition(":")
    if kind.lower() != "unix" or _unixMode(rest) is not None:
        return description
    return description + ":mode=600"


def readPasswordFile(path):
    """
    The C{user:password} lines of C{path} as a dict of bytes (blank lines
    and lines starting with C{#} skipped; the password is everything after
    the first C{:}).

    @raise ValueError: if the file has a line without C{:} or no user.
    """
    users = {}
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip(b"\r\n")
            if not line.strip() or line.lstrip().startswith(b"#"):
                continue
            user, sep, password = line.partition(b":")
            if not sep or not user or not password:
                raise ValueError("%s line %d is not user:password" % (path, number))
            users[user] = password
    if not users:
        raise ValueError("%s holds no user:password line" % (path,))
    return users


def readKeysFile(path):
    """
    The SSH public keys in C{path} (authorized_keys format).

    @raise ValueError: if it holds none.
    """
    with open(path, "rb") as f:
        found = list(readAuthorizedKeyFile(f))
    if not found:
        raise ValueError("%s holds no SSH public key" % (path,))
    return found


@implementer(ICredentialsChecker)
class PasswordFileChecker:
    """
    Checks passwords against a C{user:password} file, read again at every
    attempt so that editing it takes effect without a restart.
    """

    credentialInterfaces = (credentials.IUsernamePassword,)
    log = Logger()

    def __init__(self, path):
        self.path = path

    def requestAvatarId(self, creds):
        try:
            users = readPasswordFile(self.path)
        except (OSError, ValueError) as e:
            self.log.error("Cannot read the manhole password file: {error}", error=e)
            return defer.fail(error.UnauthorizedLogin())
        expected = users.get(creds.username)
        # Compare in constant time, and as long for an unknown user.
        if hmac.compare_digest(expected or b"\0" * 32, creds.password) and expected is not None:
            return defer.succeed(creds.username)
        return defer.fail(error.UnauthorizedLogin())


@implementer(IAuthorizedKeysDB)
class KeysFile:
    """
    The authorized keys of every user name: anyone holding one of the keys
    in the file may log in, whatever name they give.  Read again at every
    attempt.
    """

    def __init__(self, path):
        self.path = path

    def getAuthorizedKeys(self, username):
        try:
            with open(self.path, "rb") as f:
                return list(readAuthorizedKeyFile(f))
        except OSError:
            return []


def loadHostKey(path):
    """
    The manhole's SSH host key, kept in C{path}: made (Ed25519, mode 0600)
    the first time and read back after, so that C{ssh} sees the same host
    at every restart.

    @return: a private L{keys.Key}.
    """
    try:
        return keys.Key.fromFile(path)
    except FileNotFoundError:
        pass
    key = keys.Key(ed25519.Ed25519PrivateKey.generate())
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    # O_EXCL: if another process made it meanwhile, use theirs.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return keys.Key.fromFile(path)
    with os.fdopen(fd, "wb") as f:
        f.write(key.toString("openssh"))
    return key



class _Text(str):
    """
    Text the manhole shows as it is, not quoted and escaped.
    """

    def __repr__(self):
        return str(self)


class ManholeNamespace:
    """
    What a manhole session finds at its prompt: C{service} (the
    L{ChatService}), C{registry}, C{store} (the L{RedisStore}) and the
    helpers below.  C{helpers()} lists them.
    """

    def __init__(self, service):
        self.service = service

    def online(self):
        """
        The users connected to this node: {user: number of connections}.
        """
        registry = self.service.registry
        return {user: len(registry.sessions(user)) for user in sorted(registry.users())}

    def sessions(self):
        """
        Every connection to this node, logged in or not: peer address, user
        (None before login), requests queued and output bytes not yet taken
        by the client.
        """
        rows = []
        for session in sorted(self.service.sessions, key=lambda s: s.peer):
            rows.append({
                "peer": session.peer,
                "user": session.user,
                # A debugging aid may look inside: no public counter exists.
                "queued": len(session._queue),
                "pending": pendingBytes(getattr(session.protocol, "transport", None)),
            })
        return rows

    def redisInfo(self, section="server"):
        """
        A Deferred of Redis's health: whether the link is connected, its
        address, the PING round trip in milliseconds and the fields of the
        INFO C{section} ("server", "memory", "persistence", "clients",
        "replication", "stats", "all"...).
        """
        return defer.ensureDeferred(self.service.store.info(section))

    def nodes(self):
        """
        The cluster nodes this node knows of (itself included).
        """
        return sorted(self.service.relay.nodes)

    def helpers(self):
        """
        What is at hand in the manhole.
        """
        lines = ["service, registry, store: the ChatService, its PresenceRegistry and RedisStore"]
        for name in ("online", "sessions", "redisInfo", "nodes", "helpers"):
            doc = " ".join(getattr(self, name).__doc__.split())
            lines.append("%s(): %s" % (name, doc))
        # Returned, not printed: the prompt shows it as it is.
        return _Text("\n".join(lines))

    def asDict(self):
        """
        The namespace as the manhole's interpreter wants it.
        """
        return {
            "service": self.service, "registry": self.service.registry, "store": self.service.store,
            "online": self.online, "sessions": self.sessions, "redisInfo": self.redisInfo,
            "nodes": self.nodes, "helpers": self.helpers,
        }


class _Manhole(manhole.ColoredManhole):
    """
    The interpreter's terminal, with a line saying where one is.
    """

    def __init__(self, namespace, banner):
        super().__init__(namespace)
        self.banner = banner

    def initializeScreen(self):
        # RecvLine's, with the banner between the reset (which clears the
        # screen) and the first prompt.
        self.terminal.reset()
        if self.banner:
            self.terminal.write(self.banner + "\n")
        self.terminal.write(self.ps[self.pn])
        self.setInsertMode()


def manholeFactory(namespace, hostKey, passwordFile=None, keysFile=None, banner=""):
    """
    The SSH server factory of a manhole.

    @param namespace: the interpreter's globals (each session gets a copy).
    @param hostKey: the private host L{keys.Key}.
    @param passwordFile: a C{user:password} file, or C{None}.
    @param keysFile: an authorized_keys file, or C{None}.
    """
    checkers = []
    if passwordFile is not None:
        checkers.append(PasswordFileChecker(passwordFile))
    if keysFile is not None:
        checkers.append(SSHPublicKeyChecker(KeysFile(keysFile)))
    if not checkers:
        raise ValueError("a manhole needs a password file or a keys file")
    realm = manhole_ssh.TerminalRealm()
    realm.chainedProtocolFactory = lambda: insults.ServerProtocol(_Manhole, namespace, banner)
    factory = manhole_ssh.ConchFactory(Portal(realm, checkers))
    # Instance dicts: ConchFactory's class attributes are shared by all.
    keyType = hostKey.sshType()
    factory.publicKeys = {keyType: hostKey.public()}
    factory.privateKeys = {keyType: hostKey}
    return factory


@implementer(IStreamServerEndpoint)
class _RecordingEndpoint:
    """
    An endpoint that remembers the port it listens on (for C{tcp:0}).
    """

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.port = None

    def listen(self, factory):
        def listening(port):
            self.port = port
            return port

        return self.endpoint.listen(factory).addCallback(listening)


def makeManholeService(description, namespace, hostKeyPath, passwordFile=None, keysFile=None,
                       reactor=None, banner=""):
    """
    A service listening with an SSH manhole on C{description}; once
    started, C{service.endpoint.port} is its listening port.

    @param description: an endpoint description on loopback (see
        L{checkLoopback}).
    @param namespace: the interpreter's globals, e.g.
        C{ManholeNamespace(service).asDict()}.
    @param hostKeyPath: where the host key is kept (made if missing).
    @raise ValueError: if C{description} is not on loopback or neither
        file is given.
    """
    if reactor is None:
        from twisted.internet import reactor
    checkLoopback(description)
    factory = manholeFactory(namespace, loadHostKey(hostKeyPath), passwordFile, keysFile, banner)
    service = strports.service(privateSocket(description), factory, reactor=reactor)
    service.endpoint = _RecordingEndpoint(service.endpoint)
    return service
