"""
One client connection per simulated user, for each kind of server.

The phases (see phases.py) only use the small interface of L{BaseClient}:
log in, send to a user, create/join/send to a group, acknowledge. Each
adapter turns that into its wire protocol:

  - L{ChatroomClient}: 4-byte big-endian length + UTF-8 JSON frames, as in
    PROTOCOL.md; every request carries an C{id} and gets a Future.
  - L{FloorClient}: the same protocol, against the floor (floor.py), which
    keeps no pending messages: the offline phases do not apply.
  - L{IrcClient}: RFC 1459 lines; NICK/USER, PRIVMSG, JOIN.
  - L{WebSocketClient}: the chatroom protocol over WebSocket (C{/ws} of
    chatroom's web port), one JSON object per text message.

Both are plain asyncio Protocols rather than streams: with thousands of
connections in one generator process the per-read overhead of streams
would make the generator, not the server, the bottleneck.

Every received chat message is handed to C{client.on_message(client,
conversation, msg_id, text, offline)}; IRC has no message ids, so msg_id is
None there.
"""

import asyncio
import base64
import collections
import json
import os
import struct
import time

_LEN = struct.Struct(">I")


def take_frames(buf):
    """
    Remove the complete length-prefixed frames from the bytearray C{buf}
    and return their payloads (an incomplete frame stays in C{buf}).
    """
    frames = []
    pos, end = 0, len(buf)
    while end - pos >= 4:
        (length,) = _LEN.unpack_from(buf, pos)
        if end - pos - 4 < length:
            break
        frames.append(bytes(buf[pos + 4:pos + 4 + length]))
        pos += 4 + length
    if pos:
        del buf[:pos]
    return frames

# Updated by every connection on every read, so the phases can wait until
# the server has gone quiet (fan-out of presence or join events finished)
# before they take a CPU reading.
last_receive = [time.monotonic()]


class ProtocolError(Exception):
    """The server answered in a way the benchmark cannot go on from."""


class BaseClient(asyncio.Protocol):
    """
    State shared by both adapters: identity, connection, counters.

    @ivar index: position of this user in the benchmark (0..N-1, or more).
    @ivar name: user name / nick.
    @ivar events: Counter of received event types (presence, join, ...).
    @ivar errors: Counter of error codes received in replies.
    """

    #: Whether the server keeps messages for users who are offline.
    supports_offline = False
    #: Whether send_direct and send_group return a Future of the reply.
    has_replies = False
    #: Why the offline phases do not apply, if not the default reason.
    offline_na = None
    kind = "?"

    def __init__(self, index, name, on_message, ack_every=50):
        self.index = index
        self.name = name
        self.on_message = on_message
        self.ack_every = ack_every
        self.transport = None
        self.last_sent = time.monotonic()
        self.events = collections.Counter()
        self.errors = collections.Counter()
        self.closed = asyncio.get_running_loop().create_future()

    async def open(self, host, port):
        """Open the TCP connection."""
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: self, host, port)

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Small request frames must not wait for Nagle's algorithm;
            # latency would then measure the client's TCP stack.
            import socket
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def connection_lost(self, exc):
        if not self.closed.done():
            self.closed.set_result(exc)
        self._fail_pending(ConnectionError(f"{self.name}: connection lost"))

    def _fail_pending(self, exc):
        """Fail whatever is still waiting for an answer."""

    def close(self):
        """Close the connection without any goodbye."""
        if self.transport is not None:
            self.transport.close()

    # The interface used by the phases; see the subclasses.

    async def login(self, password):
        raise NotImplementedError

    def send_direct(self, peer, text):
        raise NotImplementedError

    async def create_group(self, group):
        raise NotImplementedError

    async def join_group(self, group):
        raise NotImplementedError

    def send_group(self, group, text):
        raise NotImplementedError

    def ack_all(self):
        """Acknowledge every conversation with unacknowledged messages."""
        return []

    def ping(self):
        """Show the server this idle client is still there."""


class ChatroomClient(BaseClient):
    """
    A connection speaking the chatroom protocol (PROTOCOL.md).

    Requests return Futures resolved with the reply object (C{ok} or
    C{error}); replies come in request order, but matching by C{id} keeps
    this independent of that.
    """

    supports_offline = True
    has_replies = True
    kind = "chatroom"

    def __init__(self, index, name, on_message, ack_every=50):
        super().__init__(index, name, on_message, ack_every)
        self._buf = bytearray()
        self._next_id = 0
        self._pending = {}
        # conversation -> [last msg_id received, count since last ack]
        self._unacked = {}
        self.acks_sent = 0

    # Framing.

    def data_received(self, data):
        last_receive[0] = time.monotonic()
        self._buf += data
        for frame in take_frames(self._buf):
            self._frame_received(frame)

    def _write(self, obj):
        body = json.dumps(obj, ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
        self.transport.write(_LEN.pack(len(body)) + body)
        self.last_sent = time.monotonic()

    def request(self, obj):
        """Send a request; return a Future for its reply object."""
        self._next_id += 1
        obj["id"] = self._next_id
        fut = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = fut
        self._write(obj)
        return fut

    def _fail_pending(self, exc):
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(exc)

    def _frame_received(self, frame):
        # Every login fans out presence events to every other member of
        # the lobby (N^2/2 frames in the connect phase); counting them
        # without decoding keeps the generator from becoming the
        # bottleneck. Benchmark texts never contain this byte string.
        if b'"presence"' in frame and b'"msg_id"' not in frame:
            self.events["presence"] += 1
            return
        obj = json.loads(frame)
        kind = obj.get("type")
        if kind == "message":
            self._message(obj)
            return
        rid = obj.get("id")
        if rid is not None and kind in ("ok", "error"):
            if kind == "error":
                self.errors[obj.get("code")] += 1
            fut = self._pending.pop(rid, None)
            if fut is not None and not fut.done():
                fut.set_result(obj)
            return
        self.events[kind] += 1

    def _message(self, obj):
        group = obj.get("group")
        conv = ("g", group) if group is not None else ("u", obj.get("from"))
        msg_id = obj.get("msg_id")
        self.on_message(self, conv, msg_id, obj.get("text", ""),
                        bool(obj.get("offline")))
        state = self._unacked.get(conv)
        if state is None:
            state = self._unacked[conv] = [msg_id, 0]
        state[0] = msg_id
        state[1] += 1
        if self.ack_every and state[1] >= self.ack_every:
            self._ack(conv, state)

    def _ack(self, conv, state):
        """Send one ack for C{conv} up to the last message received."""
        field = "group" if conv[0] == "g" else "with"
        state[1] = 0
        self.acks_sent += 1
        return self.request({"type": "ack", field: conv[1],
                             "upto": state[0]})

    def ack_all(self):
        return [self._ack(conv, state)
                for conv, state in self._unacked.items() if state[1]]

    # Requests used by the phases.

    async def call(self, obj):
        """Send a request and return its C{ok} reply; raise on C{error}."""
        reply = await self.request(obj)
        if reply.get("type") != "ok":
            raise ProtocolError(f"{self.name}: {obj['type']} -> "
                                f"{reply.get('code')}: {reply.get('message')}")
        return reply

    async def register(self, password):
        """Create the account (names are unique per run)."""
        await self.call({"type": "register", "user": self.name,
                         "password": password})

    async def login(self, password, register=True):
        """Register (unless told not to), then log in."""
        if register:
            await self.register(password)
        await self.call({"type": "login", "user": self.name,
                         "password": password})

    async def logout(self):
        """Log out; the server closes the connection afterwards."""
        await self.call({"type": "logout"})
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), 5)
        except asyncio.TimeoutError:
            self.close()

    def send_direct(self, peer, text):
        return self.request({"type": "send", "to": peer, "text": text})

    def ping(self):
        if self.transport is not None and not self.transport.is_closing():
            self.request({"type": "ping"})

    async def create_group(self, group):
        await self.call({"type": "group.create", "group": group})

    async def join_group(self, group):
        await self.call({"type": "group.join", "group": group})

    def send_group(self, group, text):
        return self.request({"type": "group.send", "group": group,
                             "text": text})


class FloorClient(ChatroomClient):
    """
    The chatroom protocol against the floor (floor.py): every message is
    stored, but nothing is pushed at login, so the offline phases are n/a.
    """

    supports_offline = False
    offline_na = "the floor pushes nothing at login (no pending index)"
    kind = "floor"


class IrcClient(BaseClient):
    """
    A connection speaking IRC (as InspIRCd does).

    IRC has no replies to PRIVMSG and no stored messages: C{send_direct} and
    C{send_group} return None and the offline phase does not apply.
    """

    kind = "inspircd"

    def __init__(self, index, name, on_message, ack_every=50):
        super().__init__(index, name, on_message, ack_every=0)
        self._buf = b""
        self._welcome = None
        self._joins = {}

    def data_received(self, data):
        last_receive[0] = time.monotonic()
        lines = (self._buf + data).split(b"\r\n")
        self._buf = lines.pop()
        for line in lines:
            if line:
                self._line(line.decode("utf-8", "replace"))

    def _write(self, line):
        self.transport.write(line.encode("utf-8") + b"\r\n")

    def _line(self, line):
        if line[0] != ":":
            # Only PING and ERROR come without a prefix.
            if line.startswith("PING"):
                self._write("PONG" + line[4:])
            else:
                self.events[line.split(" ", 1)[0]] += 1
            return
        prefix, command, rest = (line[1:].split(" ", 2) + ["", ""])[:3]
        if command == "PRIVMSG":
            target, _, text = rest.partition(" :")
            sender = prefix.split("!", 1)[0]
            conv = ("g", target) if target[:1] in "#&" else ("u", sender)
            self.on_message(self, conv, None, text, False)
        elif command == "001":
            if self._welcome and not self._welcome.done():
                self._welcome.set_result(None)
        elif command == "366":
            # RPL_ENDOFNAMES: "<me> <channel> :End of /NAMES list."
            channel = rest.split(" ", 2)[1].lower()
            fut = self._joins.pop(channel, None)
            if fut and not fut.done():
                fut.set_result(None)
        elif command in ("432", "433", "437", "403", "405", "471", "473",
                         "474", "475"):
            self.errors[command] += 1
            self._fail_pending(ProtocolError(f"{self.name}: {line}"))
        else:
            self.events[command] += 1

    def _fail_pending(self, exc):
        futs = list(self._joins.values())
        self._joins.clear()
        if self._welcome:
            futs.append(self._welcome)
        for fut in futs:
            if not fut.done():
                fut.set_exception(exc)

    async def login(self, password=None, register=True):
        """NICK + USER, then wait for RPL_WELCOME (001)."""
        self._welcome = asyncio.get_running_loop().create_future()
        self._write(f"NICK {self.name}")
        self._write(f"USER {self.name} 0 * :{self.name}")
        await self._welcome

    def send_direct(self, peer, text):
        self._write(f"PRIVMSG {peer} :{text}")

    async def join_group(self, group):
        """JOIN the channel and wait for the end of its NAMES list."""
        channel = "#" + group
        fut = asyncio.get_running_loop().create_future()
        self._joins[channel.lower()] = fut
        self._write(f"JOIN {channel}")
        await fut

    create_group = join_group

    def send_group(self, group, text):
        self._write(f"PRIVMSG #{group} :{text}")


class WebSocketClient(ChatroomClient):
    """
    The chatroom protocol over WebSocket (C{/ws} of chatroom's C{--web}
    port): one JSON object per text message (RFC 6455).

    Frames from a client must be masked; this one masks with the key 0,
    which RFC 6455 allows and which leaves the payload as it is, so that
    the generator's CPU is not spent on XOR. The server unmasks every
    frame all the same.
    """

    kind = "websocket"

    def __init__(self, index, name, on_message, ack_every=50):
        super().__init__(index, name, on_message, ack_every)
        self._handshake = None

    async def open(self, host, port):
        """Open the TCP connection and do the WebSocket handshake."""
        loop = asyncio.get_running_loop()
        self._handshake = loop.create_future()
        await loop.create_connection(lambda: self, host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write((
            f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chatroom.v1\r\n\r\n").encode())
        await self._handshake

    def connection_lost(self, exc):
        if self._handshake is not None and not self._handshake.done():
            self._handshake.set_exception(ConnectionError(f"{self.name}: closed during the handshake"))
        super().connection_lost(exc)

    def data_received(self, data):
        last_receive[0] = time.monotonic()
        buf = self._buf
        buf += data
        if not self._handshake.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[:buf.find(b"\r\n")])
            del buf[:end + 4]
            if b" 101 " not in status:
                self._handshake.set_exception(ProtocolError(f"{self.name}: handshake refused: {status!r}"))
                return
            self._handshake.set_result(None)
        for opcode, payload in take_ws_frames(buf):
            if opcode == 1:
                self._frame_received(payload)
            elif opcode == 8:
                self.close()
            elif opcode == 9:
                self.transport.write(ws_frame(payload, opcode=10))

    def _write(self, obj):
        body = json.dumps(obj, ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
        self.transport.write(ws_frame(body))
        self.last_sent = time.monotonic()


def ws_frame(payload, opcode=1):
    """One final client frame (masked with the key 0) of C{payload}."""
    n = len(payload)
    if n < 126:
        head = struct.pack(">BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack(">BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack(">BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + b"\0\0\0\0" + payload


def take_ws_frames(buf):
    """
    Remove the complete (unmasked, server) frames from the bytearray
    C{buf}; return their (opcode, payload). The server never fragments
    the messages of this benchmark.
    """
    frames = []
    pos, end = 0, len(buf)
    while end - pos >= 2:
        first, second = buf[pos], buf[pos + 1]
        n, head = second & 0x7F, 2
        if n == 126:
            if end - pos < 4:
                break
            (n,) = struct.unpack_from(">H", buf, pos + 2)
            head = 4
        elif n == 127:
            if end - pos < 10:
                break
            (n,) = struct.unpack_from(">Q", buf, pos + 2)
            head = 10
        if end - pos - head < n:
            break
        frames.append((first & 0x0F, bytes(buf[pos + head:pos + head + n])))
        pos += head + n
    if pos:
        del buf[:pos]
    return frames


ADAPTERS = {"chatroom": ChatroomClient, "floor": FloorClient,
            "inspircd": IrcClient, "websocket": WebSocketClient}
