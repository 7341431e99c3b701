# -*- test-case-name: tests.test_admin -*-
"""
What an operator asks of the storage (C{chatroom-admin}): counts, users
and groups by name, one user's or one group's record; and what it
changes: a new password, a server ban, an account or a group deleted (by
the same store code as the servers' requests), and the envelopes that tell
the nodes (L{NodeAnnouncer}).

Everything here reads, but the methods of "Changes".  Listings and
counts walk the keyspace with C{SCAN} (never C{KEYS}), on every master of a
Redis Cluster, so they cost one pass over the keys and never block Redis
for long; each command says what it costs in C{docs/operations.rst}.
"""

import heapq

from chatroom import errors
from chatroom.store import keys
from chatroom.store.connection import allOf
from chatroom.store.controls import ControlStore
from chatroom.store.groups import GroupStore
from chatroom.store.nodes import NodeAnnouncer
from chatroom.store.redis import linkInfo
from chatroom.store.routing import ClusterLink
from chatroom.store.scripts import Script

_setPassword = Script("set_password")
_check = Script("group_check")

#: Keys asked for per C{SCAN} call.
SCAN_COUNT = 1000

#: Above this many members, C{group} does not count the online ones (it
#: would read every member's name).
ONLINE_COUNT_MAX = 10000


#: What each kind of key (L{keys.kindOf}) counts as.
_COUNTED = {"group": "groups", "direct stream": "direct conversations",
            "group stream": "group conversations"}


def _glob(text):
    # Redis glob patterns treat *, ?, [, ] and \ specially.
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _hash(reply):
    # HGETALL's reply as a dict, whether it came as one or as a flat list.
    if isinstance(reply, dict):
        return dict(reply)
    reply = list(reply or [])
    return dict(zip(reply[0::2], reply[1::2]))


def _int(value):
    return None if value is None else int(value)


class AdminStore:
    """
    The operator's questions, on the command link of a L{RedisStore} (a
    L{chatroom.store.connection.RedisLink} or a L{ClusterLink}).
    """

    def __init__(self, link):
        self.link = link
        self.groupStore = GroupStore(link)
        self.controls = ControlStore(link, self.groupStore)
        self.announcer = NodeAnnouncer(link)

    # Walking the keyspace.

    async def _scan(self, match=None, kind=None):
        """
        Yield batches of key names (C{SCAN}, on every master of a cluster).
        """
        link = self.link
        if isinstance(link, ClusterLink):
            runners = [(lambda *args, a=address: link.executeOnNode(a, *args)) for address in link.masters()]
        else:
            runners = [link.execute]
        extra = []
        if match is not None:
            extra += ["MATCH", match]
        if kind is not None:
            extra += ["TYPE", kind]
        for execute in runners:
            cursor = "0"
            while True:
                cursor, batch = await execute("SCAN", cursor, "COUNT", SCAN_COUNT, *extra)
                if batch:
                    yield list(batch)
                if str(cursor) == "0":
                    break

    async def _names(self, tag, prefix, after, limit):
        # The first limit + 1 names of kind tag ("u" or "g") starting with
        # prefix and after `after`, in name order: one pass, holding at
        # most limit + 1 names.
        smallest = []
        match = "{%s:%s*}" % (tag, _glob(prefix))
        async for batch in self._scan(match, "hash"):
            found = [key[3:-1] for key in batch]
            if after is not None:
                found = [name for name in found if name > after]
            if tag == "u":
                found = await self._living(found)
            for name in found:
                entry = _Reversed(name)
                if len(smallest) <= limit:
                    heapq.heappush(smallest, entry)
                elif entry.name < smallest[0].name:
                    heapq.heapreplace(smallest, entry)
        names = sorted(entry.name for entry in smallest)
        more = len(names) > limit
        names = names[:limit]
        return names, names[-1] if more and names else None

    async def _living(self, names):
        # Those of names that are not deleted accounts (whose hashes stay to
        # keep their names taken): one pipelined HEXISTS each.
        deleted = await allOf([self.link.execute("HEXISTS", keys.user(name), "deleted") for name in names])
        return [name for name, gone in zip(names, deleted) if not int(gone)]

    # Counts.

    async def counts(self):
        """
        One pass over the keyspace: C{{"users", "deleted users", "groups",
        "direct conversations", "group conversations", "messages"}} (users:
        the accounts that are not deleted; messages: the sum of every
        conversation stream's length).
        """
        counts = {"users": 0, "deleted users": 0, "groups": 0, "direct conversations": 0,
                  "group conversations": 0, "messages": 0}
        async for batch in self._scan():
            streams, users = [], []
            for key in batch:
                kind, name = keys.kindOf(key)
                if kind is None:
                    continue
                if kind == "user":
                    users.append(name)
                    continue
                counts[_COUNTED[kind]] += 1
                if kind.endswith("stream"):
                    streams.append(key)
            if users:
                living = len(await self._living(users))
                counts["users"] += living
                counts["deleted users"] += len(users) - living
            if streams:
                lengths = await allOf([self.link.execute("XLEN", key) for key in streams])
                counts["messages"] += sum(int(n) for n in lengths)
        return counts

    async def online(self):
        """
        The number of users online.
        """
        return int(await self.link.execute("ZCARD", keys.ONLINE))

    async def nodes(self):
        """
        C{(alive, dead)}: the sorted ids of the nodes in C{{nodes}} whose
        liveness key is there, and of those whose key expired (not reaped
        yet).
        """
        nodes = sorted(await self.link.execute("SMEMBERS", keys.NODES))
        up = await allOf([self.link.execute("EXISTS", keys.nodeAlive(node)) for node in nodes])
        return [n for n, u in zip(nodes, up) if int(u)], [n for n, u in zip(nodes, up) if not int(u)]

    def info(self, section="default"):
        """
        Redis's C{INFO} fields (see L{linkInfo}).
        """
        return linkInfo(self.link, section)

    # Users.

    def users(self, prefix="", after=None, limit=100):
        """
        C{(names, next cursor)}: up to C{limit} user names that start with
        C{prefix} and come after C{after}, in name order; the cursor is
        the last name when more follow.
        """
        return self._names("u", prefix, after, limit)

    async def displayNames(self, names):
        """
        The display name of each of C{names} (its name when it has none).
        """
        shown = await allOf([self.link.execute("HGET", keys.user(n), "name") for n in names])
        return [d or n for n, d in zip(names, shown)]

    async def areOnline(self, names):
        """
        Whether each of C{names} is online.
        """
        if not names:
            return []
        scores = await self.link.execute("ZMSCORE", keys.ONLINE, *names)
        return [score is not None for score in scores]

    async def user(self, name):
        """
        The record of user C{name}, or C{None} if there is none:
        C{{"name", "display_name", "created" (ms or None), "groups",
        "connections" ({node: count}), "peers", "fields"}} (C{fields}: the
        account hash less the password hash).
        """
        link = self.link
        account, groups, located, peers, wrote = await allOf([
            link.execute("HGETALL", keys.user(name)),
            link.execute("SMEMBERS", keys.userGroups(name)),
            link.execute("HGETALL", keys.locations(name)),
            link.execute("SMEMBERS", keys.userPeers(name)),
            link.execute("SMEMBERS", keys.userWrote(name)),
        ])
        if not account:
            return None
        account = _hash(account)
        if "deleted" in account:
            # Its hash only keeps its name taken.
            return None
        account.pop("pw", None)
        groups = sorted(groups)
        # The index may name a group the user has left (docs/storage.rst):
        # membership is the truth.  Read only: nothing is repaired here.
        checks = await allOf([link.run(_check, [keys.group(g), keys.groupMembers(g), keys.groupRoles(g)], [name])
                              for g in groups])
        return {
            "name": name,
            "display_name": account.get("name") or name,
            "created": _int(account.get("created")),
            "groups": [g for g, (member, *_) in zip(groups, checks) if int(member)],
            "connections": {node: int(n) for node, n in sorted(_hash(located).items())},
            "peers": len(set(peers).union(wrote)),
            "banned": "banned" in account,
            "fields": account,
        }

    async def isDeleted(self, name):
        """
        Whether C{name} is a deleted account (its name stays taken).
        """
        return bool(int(await self.link.execute("HEXISTS", keys.user(name), "deleted")))

    # Changes.

    async def setPassword(self, name, passwordHash):
        """
        Replace the password hash of user C{name}; L{NoSuchUser} (deleted
        accounts too).
        """
        await self.link.run(_setPassword, [keys.user(name)], [passwordHash])

    def setBanned(self, name, banned):
        """
        Ban user C{name} from the server, or lift it (the rule of
        C{admin.ban}); L{NoSuchUser}.
        """
        return self.controls.setBanned(name, banned)

    async def deleteAccount(self, name):
        """
        Delete the account C{name} as C{account.delete} does, without its
        password: the groups it left, or C{None} if there is no such
        account (or it is deleted already).  The hash read is the one the
        store's delete checks, so a password changed meanwhile is retried.
        """
        for _ in range(3):
            passwordHash = await self.link.execute("HGET", keys.user(name), "pw")
            if passwordHash is None:
                return None
            left = await self.controls.delete(name, passwordHash)
            if left is not None:
                return left
        raise errors.Unavailable("the password of %s keeps changing; try again" % (name,))

    def deleteGroup(self, group, actor):
        """
        Delete C{group} as a server admin C{actor} would: the members it
        had; L{NoSuchGroup}, L{Forbidden} for the lobby.
        """
        return self.groupStore.delete(group, actor, admin=True)

    def kick(self, envelope):
        """
        Broadcast a kick C{envelope} to every node: the number listening.
        """
        return self.announcer.broadcast(envelope)

    def publishToGroup(self, group, envelope):
        """
        Publish C{envelope} to the nodes watching C{group}: their number.
        """
        return self.announcer.publishToGroup(group, envelope)

    # Groups.

    def groups(self, prefix="", after=None, limit=100):
        """
        C{(names, next cursor)} of groups, as L{users}.
        """
        return self._names("g", prefix, after, limit)

    async def sizes(self, groups):
        """
        The number of members of each of C{groups}.
        """
        return [int(n) for n in await allOf([self.link.execute("HLEN", keys.groupMembers(g)) for g in groups])]

    async def group(self, name, members=False):
        """
        The record of group C{name}, or C{None} if there is none:
        C{{"name", "created" (ms or None), "creator", "members" (count),
        "online" (members online; None above L{ONLINE_COUNT_MAX}),
        "messages", "last_message" (msg_id or None), "fields", "member_list"
        ([(user, online)] when C{members}, else None)}}.
        """
        link = self.link
        fields, size, length, last = await allOf([
            link.execute("HGETALL", keys.group(name)),
            link.execute("HLEN", keys.groupMembers(name)),
            link.execute("XLEN", keys.groupStream(name)),
            link.execute("XREVRANGE", keys.groupStream(name), "+", "-", "COUNT", 1),
        ])
        if not fields:
            return None
        fields, size = _hash(fields), int(size)
        online = memberList = None
        if members or size <= ONLINE_COUNT_MAX:
            names = sorted(await link.execute("HKEYS", keys.groupMembers(name)))
            flags = await self.areOnline(names)
            online = sum(flags)
            if members:
                memberList = list(zip(names, flags))
        created = _int(fields.get("created"))
        return {
            "name": name,
            "created": created or None,
            "creator": fields.get("creator"),
            "members": size,
            "online": online,
            "messages": int(length),
            "last_message": last[0][0] if last else None,
            "fields": fields,
            "member_list": memberList,
        }


class _Reversed:
    """
    A name in a min-heap that keeps the largest on top (to drop it).
    """

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __lt__(self, other):
        return self.name > other.name
