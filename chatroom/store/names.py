# -*- test-case-name: tests.handlers.test_names -*-
"""
The index of name keys: uniqueness of names up to case, width, invisible
characters and lookalikes (L{chatroom.names.nameKeys}) is one lookup per key.

Each key of a user name is claimed in its own slot, C{{s:KEY}} (a group
name's in C{{gs:KEY}}), with C{SET} only if free (C{name_claim.lua}), before
the account (or group) is created in its own slot: the claims are the
uniqueness decision, the account is the commit point.  A claim holds
C{name|milliseconds}.  A claim whose name has no account (or group) and is
older than L{STALE_SECONDS} was left by a request that stopped between the
two writes (a crash, see docs/storage.rst) and is taken over; a younger one
belongs to a registration under way and refuses.  The name itself keeps its
own claims: registering it again (after a crash) goes on from them.
"""

import time

from twisted.internet import defer
from twisted.logger import Logger

from chatroom import errors
from chatroom.names import nameKeys
from chatroom.store import faults, keys
from chatroom.store.scripts import Script

#: Seconds after which a claim whose name was never created is stale.
STALE_SECONDS = 60

#: The marker of a storage whose name index is built (see L{buildIndex}).
INDEX_MARKER = "{layout}:names"

_claim = Script("name_claim")
_release = Script("name_release")

NameTaken = errors.NameTaken


def _owner(claim):
    name, _, ms = claim.rpartition("|")
    return name, int(ms or 0)


class NameClaims:
    """
    The claims of one kind of name (users or groups): a claim primitive
    over one key (Redis: C{name_claim.lua}; memory: a dict), the rule
    above around it.

    @ivar claimOne: C{claimOne(key, name, nowMs, stale)}: a Deferred of
        C{'claimed'}, C{'own'} or the other name's claim.
    @ivar releaseOne: C{releaseOne(key, name)}: a Deferred.
    @ivar lookup: C{lookup(key)}: a Deferred of the claim or C{None}.
    @ivar exists: C{exists(name)}: a Deferred of whether the name was created.
    """

    faults = faults.NONE

    def __init__(self, keyOf, claimOne, releaseOne, lookup, exists, clock=time):
        self.keyOf = keyOf
        self.claimOne = claimOne
        self.releaseOne = releaseOne
        self.lookup = lookup
        self.exists = exists
        self.clock = clock

    def _now(self):
        return int(self.clock.time() * 1000) if self.clock is time else int(self.clock.seconds() * 1000)

    async def _holds(self, claim, name):
        # Whether another name's claim stands: its name exists, or its
        # registration may still be under way.
        other, ms = _owner(claim)
        if other == name:
            return False
        if await self.exists(other):
            return True
        return self._now() - ms < STALE_SECONDS * 1000

    async def taken(self, name):
        """
        Whether another name that is the same name as C{name} holds a key
        (a look before paying for a password hash; L{claim} decides).
        """
        for nameKey in nameKeys(name):
            claim = await self.lookup(self.keyOf(nameKey))
            if claim is not None and await self._holds(claim, name):
                return True
        return False

    async def claim(self, name):
        """
        Claim every key of C{name}, or none: L{NameTaken} if another name
        holds one.
        """
        claimed = []
        try:
            for nameKey in nameKeys(name):
                key = self.keyOf(nameKey)
                stale = ""
                for _ in range(2):
                    outcome = await self.claimOne(key, name, self._now(), stale)
                    if outcome in ("claimed", "own"):
                        if outcome == "claimed":
                            claimed.append(key)
                        break
                    if await self._holds(outcome, name):
                        raise NameTaken()
                    # Stale: take it over, unless it changed meanwhile.
                    stale = outcome
                else:
                    raise NameTaken()
        except NameTaken:
            for key in claimed:
                await self.releaseOne(key, name)
            raise
        self.faults("name.claimed")

    async def release(self, name):
        """
        Give back the keys of C{name} (it was not created after all).
        """
        for nameKey in nameKeys(name):
            await self.releaseOne(self.keyOf(nameKey), name)


def redisClaims(link, keyOf, exists):
    """
    L{NameClaims} on Redis, through C{link}.
    """
    def claimOne(key, name, now, stale):
        return link.run(_claim, [key], [name, now, stale])

    def releaseOne(key, name):
        return link.run(_release, [key], [name])

    def lookup(key):
        return link.execute("GET", key)

    return NameClaims(keyOf, claimOne, releaseOne, lookup, exists)


_log = Logger()


async def _scan(link, pattern, batch=500):
    # Every key matching pattern, on one Redis or on every master of a
    # cluster.
    masters = getattr(link, "masters", None)
    executes = ([lambda *a, address=address: link.executeOnNode(address, *a) for address in masters()]
                if masters is not None else [link.execute])
    for execute in executes:
        cursor = "0"
        while True:
            cursor, found = await execute("SCAN", cursor, "MATCH", pattern, "COUNT", batch)
            for key in found:
                yield key
            if str(cursor) == "0":
                break


def _nameOf(key, prefix):
    # '{u:NAME}' -> NAME; None for the user's other keys ('{u:NAME}:peers').
    if key.startswith(prefix) and key.endswith("}"):
        return key[len(prefix):-1]
    return None


async def _namesOf(link, prefix):
    # The names of the hashes '{u:NAME}' (or '{g:NAME}') found by a SCAN.
    names = []
    async for key in _scan(link, prefix + "*}"):
        name = _nameOf(key, prefix)
        if name is not None:
            names.append(name)
    return sorted(set(names))


def accountNames(link):
    """
    The names of every account (and C{deleted} ones), from a SCAN: a
    coroutine.
    """
    return _namesOf(link, "{u:")


def groupNames(link):
    """
    The names of every group, from a SCAN: a coroutine.
    """
    return _namesOf(link, "{g:")


async def buildIndex(link):
    """
    Claim the name keys of the accounts and groups made before names had
    them (once per storage, marked by L{INDEX_MARKER}).  Where two existing
    names are the same name, the first in code point order gets the key;
    both keep working (login is exact), and L{collisions} lists them.

    @return: the number of names indexed, or C{None} if it was done before.
    """
    if await link.execute("GET", INDEX_MARKER) is not None:
        return None
    count = 0
    users = redisClaims(link, keys.userName, lambda name: defer.succeed(True))
    groups = redisClaims(link, keys.groupName, lambda name: defer.succeed(True))
    for claims, names in ((users, await accountNames(link)), (groups, await groupNames(link))):
        for name in names:
            for nameKey in nameKeys(name):
                await claims.claimOne(claims.keyOf(nameKey), name, claims._now(), "")
            count += 1
    await link.execute("SET", INDEX_MARKER, "1")
    if count:
        _log.info("Indexed the name keys of {count} existing users and groups", count=count)
    return count


def collisions(names):
    """
    The sets of C{names} that are the same name (two or more each), sorted.
    """
    parent = {}

    def find(item):
        while parent.setdefault(item, item) != item:
            item = parent[item]
        return item

    for name in names:
        for nameKey in nameKeys(name):
            parent[find(("k", nameKey))] = find(("n", name))
    groups = {}
    for name in names:
        groups.setdefault(find(("n", name)), []).append(name)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)
