# -*- test-case-name: tests.test_tap -*-
"""
Parsing the C{--redis} URL.
"""

from urllib.parse import unquote, urlparse


def parseRedisURL(url):
    """
    Parse C{redis://[:password@]host[:port][/db]},
    C{unix:///path/to/socket[?db=N]} or
    C{sentinel://[:password@]host[:port][,host[:port]...]/master[/db]} (the
    master named C{master} of a Redis replicated under Sentinel; the
    password is the master's) into keyword arguments for L{RedisLink}, or
    C{redis-cluster://[:password@]host[:port][,host[:port]...]} (nodes of a
    Redis Cluster to read the slot map from) into C{{"cluster": [(host,
    port), ...], "password": ...}}.

    @raise ValueError: for anything else.
    """
    parsed = urlparse(url)
    if parsed.scheme == "sentinel":
        return _parseSentinelURL(url, parsed)
    if parsed.scheme == "redis-cluster":
        return _parseClusterURL(url, parsed)
    password = unquote(parsed.password) if parsed.password else None
    if parsed.scheme == "redis":
        if not parsed.hostname:
            raise ValueError("no host in %r" % (url,))
        db = parsed.path.strip("/") or "0"
        if not db.isdigit():
            raise ValueError("database must be a number in %r" % (url,))
        return {"host": parsed.hostname, "port": parsed.port or 6379, "db": int(db), "password": password}
    if parsed.scheme == "unix":
        if not parsed.path:
            raise ValueError("no socket path in %r" % (url,))
        db = "0"
        for part in parsed.query.split("&"):
            if part.startswith("db="):
                db = part[3:]
        if not db.isdigit():
            raise ValueError("database must be a number in %r" % (url,))
        return {"path": parsed.path, "db": int(db), "password": password}
    raise ValueError("expected redis://host:port/db, unix:///path, sentinel://host:port/master or "
                     "redis-cluster://host:port,host:port, not %r" % (url,))


def _addresses(parsed, url, defaultPort, what):
    # The password and the (host, port) list of a URL naming several nodes.
    userinfo, _, hosts = parsed.netloc.rpartition("@")
    password = unquote(userinfo.partition(":")[2]) if userinfo else None
    addresses = []
    for address in hosts.split(","):
        if address.startswith("["):
            host, _, port = address[1:].partition("]")
            port = port[1:] or defaultPort
        else:
            host, colon, port = address.partition(":")
            port = port if colon else defaultPort
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("bad %s address %r in %r" % (what, address, url))
        addresses.append((host, int(port)))
    return password or None, addresses


def _parseClusterURL(url, parsed):
    password, nodes = _addresses(parsed, url, "6379", "Redis Cluster")
    if parsed.path.strip("/") not in ("", "0") or parsed.query:
        raise ValueError("a Redis Cluster has only database 0: expected "
                         "redis-cluster://host:port[,host:port...], not %r" % (url,))
    return {"cluster": nodes, "password": password}


def _parseSentinelURL(url, parsed):
    password, sentinels = _addresses(parsed, url, "26379", "Sentinel")
    parts = parsed.path.strip("/").split("/")
    master = unquote(parts[0])
    db = parts[1] if len(parts) > 1 else "0"
    if not master or len(parts) > 2 or not db.isdigit():
        raise ValueError("expected sentinel://host:port[,host:port...]/master[/db], not %r" % (url,))
    return {"sentinels": sentinels, "master": master, "db": int(db), "password": password}
