# -*- test-case-name: tests.test_config -*-
"""
The configuration file of C{twistd chatroom --config chatroom.toml}, the
Redis password file, and the effective configuration that
C{--print-config} shows, secrets masked.

The file is TOML whose keys are the long option names; L{chatroom.tap}
applies its values with the same checks as the command line.
"""

import json
import os

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

from twisted.python import usage

#: The environment variable that gives C{--redis}.
REDIS_URL_ENV = "CHATROOM_REDIS_URL"

#: What a secret is shown as.
MASK = "***"


def readConfigFile(path):
    """
    The table of the TOML file at C{path}.

    @raise usage.UsageError: if it cannot be read or is not TOML.
    """
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise usage.UsageError("--config: cannot read %s: %s" % (path, e.strerror or e)) from None
    except tomllib.TOMLDecodeError as e:
        raise usage.UsageError("%s: not valid TOML: %s" % (path, e)) from None


def readPasswordFile(path):
    """
    The password in the first line of the file at C{path}, which only its
    owner may read (like an SSH private key).

    @raise usage.UsageError: if it cannot be read, is open to other users
        or holds no password.
    """
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            data = f.read()
    except OSError as e:
        raise usage.UsageError("--redis-password-file: cannot read %s: %s" % (path, e.strerror or e)) from None
    if mode & 0o077:
        raise usage.UsageError("--redis-password-file: %s is open to other users (mode %04o); chmod 600 it"
                               % (path, mode & 0o777))
    password = data.decode("utf-8", "replace").splitlines()[0] if data.strip() else ""
    if not password:
        raise usage.UsageError("--redis-password-file: %s holds no password" % (path,))
    return password


def maskURL(url):
    """
    C{url} with its password (anything between C{://} and the last C{@})
    replaced by L{MASK}: C{redis://:secret@host} becomes
    C{redis://:***@host}.
    """
    scheme, sep, rest = url.partition("://")
    userinfo, at, hosts = rest.rpartition("@")
    if not sep or not at:
        return url
    user, colon, _ = userinfo.partition(":")
    return "%s://%s@%s" % (scheme, user + ":" + MASK if colon else MASK, hosts)


def formatValue(value):
    """
    C{value} (a string, whole number, number, boolean or a list of
    these) as a TOML value.
    """
    if isinstance(value, (list, tuple)):
        return "[%s]" % (", ".join(formatValue(item) for item in value),)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    # A JSON string with only ASCII in it is a TOML basic string.
    return json.dumps(str(value))


def formatConfig(entries):
    """
    A TOML document of C{entries}, C{(key, value, source)} triples: a value
    of C{None} (an option not set) is a comment, and each line says where
    its value came from.
    """
    lines = ["# The effective configuration of twistd chatroom (secrets shown as %s)." % (MASK,)]
    for key, value, source in entries:
        if value is None:
            lines.append("# %s is not set" % (key,))
        else:
            lines.append("%s = %s  # %s" % (key, formatValue(value), source))
    return "\n".join(lines) + "\n"
