# -*- test-case-name: tests.handlers.test_controls -*-
"""
The 1.1 rules of accounts in memory, as L{chatroom.store.memory} keeps the
others: name claims (L{chatroom.store.names}), blocks, password changes,
account deletion, display names and server bans, written again in Python
after the Redis store's scripts (L{chatroom.store.controls}).
"""

from collections import defaultdict

from twisted.internet import defer
from zope.interface import implementer

from chatroom import errors
from chatroom.store.accounts import LOBBY
from chatroom.store.controls import MAX_BLOCKS, tooManyBlocks
from chatroom.store.interfaces import IAccountStore, IControlStore
from chatroom.store.memgroups import MemoryGroupStore
from chatroom.store.names import NameClaims


class PersonalData:
    """
    What the 1.1 rules keep, beside L{MemoryData}: name claims (key ->
    C{name|ms}), blocks (user -> set), banned and deleted users.
    """

    def __init__(self):
        self.claims = {}
        self.blocks = defaultdict(set)
        self.banned = set()
        self.deleted = set()


def personalOf(data):
    """
    The L{PersonalData} of a L{MemoryData} (made on first use, shared by
    the nodes on it).
    """
    personal = getattr(data, "personal", None)
    if personal is None:
        personal = data.personal = PersonalData()
    return personal


def memoryClaims(data, kind, exists):
    """
    L{NameClaims} in memory: C{kind} C{"u"} or C{"g"} keeps the two kinds
    of names apart, as their Redis keys do.
    """
    claims = personalOf(data).claims

    def claimOne(key, name, now, stale):
        current = claims.get(key)
        if current is not None:
            if current.rpartition("|")[0] == name:
                return defer.succeed("own")
            if current != stale:
                return defer.succeed(current)
        claims[key] = "%s|%d" % (name, now)
        return defer.succeed("claimed")

    def releaseOne(key, name):
        current = claims.get(key)
        if current is not None and current.rpartition("|")[0] == name:
            del claims[key]
        return defer.succeed(None)

    def lookup(key):
        return defer.succeed(claims.get(key))

    def existsNow(name):
        return defer.succeed(exists(name))

    return NameClaims(lambda nameKey: (kind, nameKey), claimOne, releaseOne, lookup, existsNow, clock=data.clock)


@implementer(IAccountStore)
class MemoryAccountStore:
    """
    Accounts in memory.
    """

    def __init__(self, data):
        self.data = data
        self.names = memoryClaims(data, "u", lambda user: user in data.users)

    def nameTaken(self, user):
        return self.names.taken(user)

    async def create(self, user, passwordHash, displayName):
        data = self.data
        await self.names.claim(user)
        if user in data.users:
            raise errors.UserExists()
        data.users[user] = (passwordHash, displayName)
        data.groups.add(LOBBY)
        MemoryGroupStore(data).addMember(LOBBY, user)

    async def credentials(self, user):
        found = self.data.users.get(user)
        if found is None or found[0] is None:
            return None
        return found[0], found[1] or user

    async def ensureLobby(self):
        self.data.groups.add(LOBBY)


@implementer(IControlStore)
class MemoryControlStore:
    """
    Personal controls in memory.
    """

    def __init__(self, data, groups, maxBlocks=MAX_BLOCKS):
        self.data = data
        self.personal = personalOf(data)
        self.groups = groups
        self.maxBlocks = maxBlocks

    def _mustExist(self, user):
        found = self.data.users.get(user)
        if found is None or found[0] is None:
            raise errors.NoSuchUser()
        return found

    async def block(self, user, peer):
        self._mustExist(peer)
        blocks = self.personal.blocks[user]
        if peer in blocks:
            return False
        if len(blocks) >= self.maxBlocks:
            raise tooManyBlocks(self.maxBlocks)
        blocks.add(peer)
        return True

    async def unblock(self, user, peer):
        blocks = self.personal.blocks[user]
        if peer not in blocks:
            return False
        blocks.discard(peer)
        return True

    async def blocksOf(self, user):
        return sorted(self.personal.blocks.get(user, ()))

    def blocked(self, recipient, sender):
        """
        Whether C{recipient} blocked C{sender} (what the send script checks).
        """
        return sender in self.personal.blocks.get(recipient, ())

    async def setPassword(self, user, checked, new):
        found = self.data.users.get(user)
        if found is None or found[0] != checked:
            return False
        self.data.users[user] = (new, found[1])
        return True

    async def delete(self, user, checked):
        data = self.data
        left = []
        for group in sorted(data.userGroups.get(user, ())):
            try:
                await self.groups.leave(group, user)
                left.append(group)
            except (errors.NoSuchGroup, errors.NotMember):
                data.userGroups[user].discard(group)
        found = data.users.get(user)
        if found is None or found[0] != checked:
            return None
        data.users[user] = (None, found[1])
        self.personal.deleted.add(user)
        return left

    async def setDisplayName(self, user, name):
        found = self._mustExist(user)
        self.data.users[user] = (found[0], name)

    async def setBanned(self, user, banned):
        self._mustExist(user)
        if banned:
            self.personal.banned.add(user)
        else:
            self.personal.banned.discard(user)

    async def isBanned(self, user):
        return user in self.personal.banned

    async def info(self, user):
        return self._mustExist(user)[1] or user
