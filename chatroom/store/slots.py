# -*- test-case-name: tests.store.test_routing -*-
"""
Redis Cluster's slots: which slot a key or command belongs to, what the
cluster's error replies ask a client to do, and its slot map.
"""

from binascii import crc_hqx

import txredisapi

#: Slots in a Redis Cluster.
SLOTS = 16384

#: Commands whose first key follows a key count (C{EVAL script 2 k1 k2 ...}).
_COUNTED = frozenset({"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})

#: Error replies that mean "not now": the command did not run, send it again later.
_BUSY = frozenset({"TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN", "READONLY"})


def keySlot(key):
    """
    The cluster slot of C{key} (C{bytes}, or C{str} encoded as UTF-8): the
    XMODEM CRC16 of the key, or of its hash tag (what lies between the first
    C{{} and the first C{}} after it, if that is not empty), modulo 16384.
    """
    if not isinstance(key, bytes):
        key = str(key).encode("utf-8")
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1:end]
    # binascii's CRC-CCITT from zero is the XMODEM CRC16.
    return crc_hqx(key, 0) % SLOTS


def commandSlot(args):
    """
    The slot of the first key of command C{args}, or C{None} if it has no
    key: its first argument, or for C{EVAL}-like commands the first after
    the key count (C{SPUBLISH}'s channel too).  Send commands that name
    their keys elsewhere with L{ClusterLink.executeOnKey}.
    """
    name = args[0].decode() if isinstance(args[0], bytes) else args[0]
    if name.upper() in _COUNTED:
        return keySlot(args[3]) if int(args[2]) > 0 else None
    return keySlot(args[1]) if len(args) > 1 else None


class Retry(Exception):
    """
    The cluster did not run a command, and said where or when to send it:
    C{MOVED} or C{ASK} (with the node's address), C{TRYAGAIN} and the like,
    or C{DOWN} when the master has no usable connection.
    """

    def __init__(self, kind, address=None):
        super().__init__(kind)
        self.kind = kind
        self.address = address


def redirection(message, host):
    """
    The L{Retry} an error reply asks for (C{MOVED}, C{ASK}, or "not now"),
    or C{None}.
    """
    # "MOVED 3999 127.0.0.1:6381"; an empty host (a node that does not
    # know its own address) means the host that replied.
    words = message.split(" ")
    if words[0] in ("MOVED", "ASK") and len(words) == 3:
        address, _, port = words[2].rpartition(":")
        return Retry(words[0], (address or host, int(port)))
    return Retry(words[0]) if words[0] in _BUSY else None


def classify(failure, address):
    """
    Raise the L{Retry} a failed command's error reply asks for, if any.
    """
    if failure.check(txredisapi.ResponseError):
        retry = redirection(str(failure.value), address[0])
        if retry is not None:
            raise retry
    return failure


def parseShards(reply, host):
    """
    C{CLUSTER SHARDS} as C{(ranges, masters, nodes)}: C{(start, end,
    address)} for every slot range, the masters worth a connection, and
    every node's address.
    """
    ranges, masters, nodes = [], set(), set()
    for shard in reply:
        shard = dict(zip(shard[::2], shard[1::2]))
        for node in shard["nodes"]:
            node = dict(zip(node[::2], node[1::2]))
            endpoint = node.get("endpoint") or node.get("ip")
            address = (host if endpoint in (None, "", "?") else endpoint, int(node["port"]))
            nodes.add(address)
            if node.get("role") == "master":
                slots = [int(s) for s in shard["slots"]]
                ranges.extend((start, end, address) for start, end in zip(slots[::2], slots[1::2]))
                # A master without slots only while it is up: it may be
                # about to import its first slot, or it is a dead one.
                if slots or node.get("health") == "online":
                    masters.add(address)
    return ranges, masters, nodes


def channelName(channel):
    """
    C{channel} as a string, as txredisapi decodes channel names in replies.
    """
    # Channel names as txredisapi decodes them in replies, so both compare.
    if isinstance(channel, bytes):
        try:
            return channel.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return channel
