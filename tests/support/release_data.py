"""
The data directory of a chatroom 0.1 server in C{tests/data/release-0.1}
(made by L{tests.support.make_release_data}): its append-only file, read as
commands, and what it holds (C{expected.json}).

The file's expiry times are absolute (Redis writes C{SET ... PXAT ms}), so
the cid records it holds, which live 24 hours, would be gone in any test run
a day after the fixture was made.  L{commands} moves every expiry time as
far forward as the fixture is old: the data is as it was the moment the
0.1 server stopped.
"""

import json
import os
import socket
import time

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "data", "release-0.1")

def expected():
    """
    What the fixture holds: users, groups, conversations, what is pending.
    """
    with open(os.path.join(FIXTURE, "expected.json"), encoding="utf-8") as f:
        return json.load(f)


def parse(data):
    """
    The commands of an append-only file (RESP arrays of bulk strings).
    """
    commands = []
    i = 0
    while i < len(data):
        if data[i:i + 1] != b"*":
            raise ValueError("not a RESP array at byte %d" % (i,))
        end = data.index(b"\r\n", i)
        count = int(data[i + 1:end])
        i = end + 2
        args = []
        for _ in range(count):
            end = data.index(b"\r\n", i)
            length = int(data[i + 1:end])
            i = end + 2
            args.append(data[i:i + length])
            i += length + 2
        commands.append(args)
    return commands


def encode(commands):
    """
    Commands as RESP (what an append-only file holds, what a client sends).
    """
    out = []
    for args in commands:
        out.append(b"*%d\r\n" % (len(args),))
        for arg in args:
            arg = arg if isinstance(arg, bytes) else str(arg).encode("utf-8")
            out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


def commands(now=None):
    """
    The fixture's commands, with every absolute expiry time moved forward
    by the fixture's age.
    """
    with open(os.path.join(FIXTURE, "appendonly.aof"), "rb") as f:
        found = parse(f.read())
    now = int(time.time() * 1000) if now is None else now
    shift = max(0, now - expected()["made_at_ms"])
    for args in found:
        name = args[0].upper()
        if name == b"PEXPIREAT":
            args[2] = b"%d" % (int(args[2]) + shift,)
        elif name == b"SET":
            for i in range(3, len(args) - 1):
                if args[i].upper() == b"PXAT":
                    args[i + 1] = b"%d" % (int(args[i + 1]) + shift,)
    return found


def copyTo(dataDir):
    """
    Make C{dataDir} a copy of the fixture's data directory (its expiry times
    moved forward).
    """
    os.makedirs(dataDir, exist_ok=True)
    with open(os.path.join(dataDir, "appendonly.aof"), "wb") as f:
        f.write(encode(commands()))


def replay(socketPath):
    """
    Send the fixture's commands to the Redis on unix socket C{socketPath}
    (after C{FLUSHALL}): the same data as loading its file.
    """
    marker = b"release-0.1-loaded"
    payload = encode([[b"FLUSHALL"]] + commands() + [[b"ECHO", marker]])
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(socketPath)
        s.sendall(payload)
        received = b""
        while not received.endswith(marker + b"\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("Redis closed the connection while loading the fixture")
            received += chunk
    if b"\r\n-" in b"\r\n" + received:
        raise ValueError("Redis refused a command of the fixture: %r" % (received[:2000],))
