# -*- test-case-name: tests.store.test_memory -*-
"""
The chat service's storage in memory: the rules of the Redis store (its Lua
scripts) written again in Python, as C{twisted.words} keeps
C{InMemoryWordsRealm} beside its realm.  Nothing survives the process; it
is for running everything above the store fast, on a fake clock.  The rule
tests run against both stores, so the two cannot drift apart.

Several L{MemoryStore}s sharing one L{MemoryData} are several nodes on one
storage, with pub/sub between them.
"""

import bisect
from collections import defaultdict

from twisted.application.service import Service
from twisted.internet import defer
from zope.interface import implementer

from chatroom import errors
from chatroom.messages import msgIdKey
from chatroom.store.accounts import LOBBY
from chatroom.store.interfaces import IChatStore, INodeStore, IPresenceStore
from chatroom.store.memgroups import GroupData, MemoryGroupStore
from chatroom.store.memory_controls import MemoryAccountStore, MemoryControlStore, memoryClaims
from chatroom.store.memory_conversations import MemoryConversationStore
from chatroom.store.memory_messages import MemoryMessageStore
from chatroom.store.messages import DEFAULT_RETENTION



class _Stream:
    """
    One conversation's messages, oldest first: C{(msg_id, sort key,
    {"f": sender, "t": text})}; a retracted one keeps its place as
    C{{"f": sender, "r": "1"}}.
    """

    __slots__ = ("ids", "keys", "fields", "floor")

    def __init__(self):
        self.ids = []
        self.keys = []
        self.fields = []
        self.floor = (0, 0)

    def clear(self):
        # As XTRIM MAXLEN 0: the entries go, the last id stays.
        if self.keys:
            self.floor = self.keys[-1]
        self.ids, self.keys, self.fields = [], [], []

    def last(self):
        return self.ids[-1] if self.ids else None

    def add(self, now, sender, text, retention):
        ms = int(now * 1000)
        last = self.keys[-1] if self.keys else self.floor
        if last[0] >= ms:
            key = (last[0], last[1] + 1)
        else:
            key = (ms, 0)
        msgId = "%d-%d" % key
        self.ids.append(msgId)
        self.keys.append(key)
        self.fields.append({"f": sender, "t": text})
        if len(self.ids) > retention:
            extra = len(self.ids) - retention
            del self.ids[:extra], self.keys[:extra], self.fields[:extra]
        return msgId

    def before(self, end, count):
        # Up to count entries before end (None: the newest), newest first.
        stop = len(self.keys) if end is None else bisect.bisect_left(self.keys, msgIdKey(end))
        start = max(0, stop - count)
        return [(self.ids[i], dict(self.fields[i])) for i in range(stop - 1, start - 1, -1)]

    def after(self, position, count):
        start = bisect.bisect_right(self.keys, msgIdKey(position))
        return [(self.ids[i], dict(self.fields[i])) for i in range(start, min(len(self.ids), start + count))]


class MemoryData:
    """
    What a Redis server would hold, shared by the L{MemoryStore}s of the
    nodes that use it.
    """

    def __init__(self, clock):
        self.clock = clock
        self.users = {}
        self.groups = set()
        self.members = defaultdict(dict)
        self.userGroups = defaultdict(set)
        self.streams = defaultdict(_Stream)
        self.read = defaultdict(dict)
        self.pending = defaultdict(dict)
        # Each user's direct conversations (both ends, as {u:X}:peers)
        # and settings (user -> {name: value}).
        self.peers = defaultdict(set)
        self.settings = defaultdict(dict)
        self.cids = {}
        self.locations = defaultdict(dict)
        self.nodeUsers = defaultdict(set)
        self.online = set()
        self.nodes = set()
        self.alive = {}
        self.channels = defaultdict(set)
        self.groupData = GroupData()

    def lastOf(self, identity):
        stream = self.streams.get(identity)
        return stream.last() if stream is not None else None

    def cid(self, key):
        found = self.cids.get(key)
        if found is not None and found[1] > self.clock.seconds():
            return found[0]
        return None

    def conversationError(self, user, conversation, admin=False):
        # As the scripts' conversationError: an unknown peer or group, or a
        # group the user is not in (a server admin may read any).
        if conversation.kind == "u":
            if conversation.name not in self.users:
                return errors.NoSuchUser()
        else:
            if conversation.name not in self.groups:
                return errors.NoSuchGroup()
            if user not in self.members[conversation.name] and not admin:
                return errors.NotMember()
        return None

    def forgetNode(self, node):
        """
        C{node}'s connections are gone: the users now offline everywhere.
        """
        gone = []
        for user in sorted(self.nodeUsers.pop(node, ())):
            locations = self.locations[user]
            locations.pop(node, None)
            if not locations:
                del self.locations[user]
                self.online.discard(user)
                gone.append(user)
        return gone

    def publish(self, channel, envelope):
        for receiver in list(self.channels.get(channel, ())):
            self.clock.callLater(0, receiver, envelope)


@implementer(IPresenceStore)
class MemoryPresenceStore:
    """
    Who is online on which node, in memory.
    """

    def __init__(self, data, node):
        self.data = data
        self.node = node

    async def connect(self, user):
        data = self.data
        locations = data.locations[user]
        locations[self.node] = locations.get(self.node, 0) + 1
        data.nodeUsers[self.node].add(user)
        first = user not in data.online
        data.online.add(user)
        groups = {group: len(data.members[group]) for group in data.userGroups.get(user, ())}
        return first, len(data.online), groups

    async def disconnect(self, user):
        data = self.data
        locations = data.locations[user]
        count = locations.get(self.node, 0) - 1
        if count > 0:
            locations[self.node] = count
            return False
        locations.pop(self.node, None)
        data.nodeUsers[self.node].discard(user)
        if locations:
            return False
        del data.locations[user]
        data.online.discard(user)
        return True

    async def resetNode(self, node=None):
        return self.data.forgetNode(node or self.node)

    async def page(self, cursor, limit):
        data = self.data
        names = sorted(u for u in data.online if cursor is None or u > cursor)
        page = [(user, (data.users.get(user) or (None, user))[1] or user) for user in names[:limit]]
        nextCursor = page[-1][0] if len(names) > limit and page else None
        return page, nextCursor, len(data.online)

    async def count(self):
        return len(self.data.online)

    async def isOnline(self, user):
        return bool(self.data.locations.get(user))

    async def locate(self, users):
        return [list(self.data.locations.get(user, ())) for user in users]

    async def resync(self, counts, liveness=0):
        data, node = self.data, self.node
        if liveness > 0:
            data.nodes.add(node)
            data.alive[node] = data.clock.seconds() + liveness
        gone = []
        for user in sorted(data.nodeUsers[node]):
            if user not in counts:
                locations = data.locations[user]
                locations.pop(node, None)
                data.nodeUsers[node].discard(user)
                if not locations and user in data.online:
                    data.online.discard(user)
                    del data.locations[user]
                    gone.append(user)
        back = []
        for user, count in sorted(counts.items()):
            data.locations[user][node] = count
            data.nodeUsers[node].add(user)
            if user not in data.online:
                data.online.add(user)
                back.append(user)
        return gone, back


@implementer(INodeStore)
class MemoryNodeStore:
    """
    The nodes on one L{MemoryData}, and pub/sub between them (delivered on
    the next turn of the clock, as Redis would).
    """

    def __init__(self, data, node):
        self.data = data
        self.node = node
        self._receiver = None
        self._channels = set()
        self._listen("node:" + node)
        self._listen("*")

    def _listen(self, channel):
        self._channels.add(channel)
        self.data.channels[channel].add(self._received)

    def _received(self, envelope):
        if self._receiver is not None:
            self._receiver(envelope)

    async def heartbeat(self, timeout):
        data = self.data
        data.nodes.add(self.node)
        data.alive[self.node] = data.clock.seconds() + timeout
        return sorted(data.nodes)

    async def reap(self, presenceMaxGroup):
        data = self.data
        now = data.clock.seconds()
        dead, users = 0, []
        for node in sorted(data.nodes):
            if data.alive.get(node, 0) > now:
                continue
            dead += 1
            for user in data.forgetNode(node):
                small = [g for g in data.userGroups.get(user, ()) if len(data.members[g]) <= presenceMaxGroup]
                users.append((user, small))
            data.nodes.discard(node)
            data.alive.pop(node, None)
        return dead, users

    async def goodbye(self):
        self.data.alive.pop(self.node, None)
        self.data.nodes.discard(self.node)

    def listen(self, receiver):
        self._receiver = receiver

    def onListening(self, f):
        # Always listening: nothing to wait for, no reconnection.
        pass

    def whenListening(self):
        return defer.succeed(None)

    def watchGroups(self, groups):
        for group in groups:
            self._listen("g:" + group)
        return defer.succeed(None)

    def unwatchGroups(self, groups):
        for group in groups:
            channel = "g:" + group
            self._channels.discard(channel)
            self.data.channels[channel].discard(self._received)

    def stop(self):
        """
        Stop hearing anything (the node stopped).
        """
        for channel in self._channels:
            self.data.channels[channel].discard(self._received)
        self._channels.clear()

    def publishToNode(self, node, envelope):
        self.data.publish("node:" + node, envelope)

    def publishToGroup(self, group, envelope):
        self.data.publish("g:" + group, envelope)

    def broadcast(self, envelope):
        self.data.publish("*", envelope)


@implementer(IChatStore)
class MemoryStore(Service):
    """
    Everything the chat service keeps, in memory.

    @ivar data: the L{MemoryData}, shared with the stores of other nodes.
    """

    connected = True

    def __init__(self, clock, node, retention=DEFAULT_RETENTION, data=None):
        self.data = data if data is not None else MemoryData(clock)
        self.accounts = MemoryAccountStore(self.data)
        self.groups = MemoryGroupStore(self.data, memoryClaims(self.data, "g", lambda group: group in self.data.groups))
        self.messages = MemoryMessageStore(self.data, retention)
        self.conversations = MemoryConversationStore(self.data, self.messages)
        self.presence = MemoryPresenceStore(self.data, node)
        self.nodes = MemoryNodeStore(self.data, node)
        self.controls = MemoryControlStore(self.data, self.groups)

    def stopService(self):
        super().stopService()
        self.nodes.stop()

    def whenConnected(self):
        return defer.succeed(self)

    async def prepare(self):
        """
        Memory holds no earlier release's data: only the lobby's name keys
        to claim.
        """
        await self.groups.names.claim(LOBBY)

    def onConnected(self, f):
        # Memory is never lost: there is no reconnection to hear of.
        pass

    def ping(self):
        """
        Memory always answers.
        """
        return defer.succeed(b"PONG")

    async def info(self, section="server"):
        """
        What there is to say about memory.
        """
        data = self.data
        return {"address": "memory", "connected": True, "users": len(data.users), "online": len(data.online)}
