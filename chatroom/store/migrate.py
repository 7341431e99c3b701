# -*- test-case-name: tests.store.test_migrate -*-
"""
Moving data written by chatroom 0.1 to the slot-local layout of
L{chatroom.store.keys}.

Release 0.1 kept every key under C{cr:} (C{cr:user:alice}, C{cr:dm:alice:bob},
...; C{git show 4675da2:docs/storage.rst}).  A migration moves each of those
keys to its new place, one key at a time, and every move can be repeated:
a copy followed by the deletion of the old key, or a C{RENAME}.  So a
migration stopped anywhere (a crash, a lost Redis) and run again finishes
the job, losing nothing and writing nothing twice.  The layout marker
(C{{layout}} = C{2}) is written last: until it is there, every node that
starts migrates or waits.

One process migrates at a time: it holds C{{layout}:lock} (C{SET NX PX},
renewed while it runs); the others wait for the marker, and take over if
the lock expires without it (its holder died).

Migration is for one Redis (or a Sentinel-watched master): release 0.1
could not run on a Redis Cluster, so a cluster holds no 0.1 data, and the
C{RENAME}s here cross hash slots.

Groups of protocol 1.1 need no migration step: a group of an earlier
release reads as public and shared, and is adopted (seniority, owner) by
the first group script that touches it (C{adopt} in C{lua/_group.lua});
L{chatroom.store.directory.buildDirectory} adds the public groups to the new directory once, at
start.  See "Groups of an earlier release" in docs/storage.rst.

As a command::

    python -m chatroom.store.migrate --redis redis://host:port/db
"""

import os
import socket
import time
import uuid
from collections import Counter

import txredisapi
from twisted.internet import defer, task
from twisted.logger import Logger

from chatroom.store import keys
from chatroom.store.scripts import Script

#: The layout this release reads and writes (the value of C{{layout}}).
LAYOUT_VERSION = "2"

#: The lock one migrating process holds.
LOCK = keys.LAYOUT + ":lock"

#: How long the lock lives unless renewed, in milliseconds (it is renewed
#: every third of that).
LOCK_MS = 60_000

#: Keys asked for per SCAN (and fields per HSCAN or SSCAN of one key).
BATCH = 500

#: Seconds between two looks of a process waiting for another's migration.
POLL = 0.1

#: What every key of release 0.1 starts with.
OLD_PREFIX = "cr:"

#: A key of 0.1 that is always there: C{cr:groups} holds the lobby.
OLD_GROUPS = OLD_PREFIX + "groups"

_renewLock = Script("lock_renew")
_releaseLock = Script("lock_release")
_cutCid = Script("migrate_cid")

_TOKEN = uuid.uuid4().hex[:8]


def owner():
    """
    This process's name on the lock: host, pid and a random token.
    """
    return "%s/%d/%s" % (socket.gethostname(), os.getpid(), _TOKEN)


class LayoutError(Exception):
    """
    The data cannot be brought to this release's layout: it is of an
    unknown layout, it holds a key in both layouts, or it is 0.1 data on a
    Redis Cluster.
    """


class _NotOld(Exception):
    """
    A key under C{cr:} that is none of release 0.1's.
    """


def _name(value):
    # A user or group name as a part of a 0.1 key.
    if not value or any(c in value for c in ":|{}"):
        raise _NotOld()
    return value


def _noSuchKey(failure):
    # A RENAME of a key that is gone (moved already): None.
    failure.trap(txredisapi.ResponseError)
    if "no such key" in str(failure.value).lower():
        return None
    return failure


async def _all(deferreds):
    """
    The results of C{deferreds}, once every one of them has finished; the
    first failure, if any, is raised then (not before: nothing is left
    running behind a failed migration).
    """
    results = await defer.DeferredList(deferreds, consumeErrors=True)
    for ok, value in results:
        if not ok:
            value.raiseException()
    return [value for _, value in results]


def describe(counts):
    """
    A sentence saying what a migration did, from its counts.
    """
    c = Counter(counts)
    moved = sum(c[k] for k in ("users", "groups", "groupStreams", "directStreams", "readPositions", "cids"))
    if not moved and not c["dropped"]:
        return "nothing to migrate (no key of the 0.1 layout); marked as layout %s" % (LAYOUT_VERSION,)
    text = (
        "migrated %(users)d users, %(groups)d groups (%(memberships)d memberships), "
        "%(groupStreams)d group and %(directStreams)d direct conversations (%(messages)d messages), "
        "%(readPositions)d read positions, %(cids)d cid records; dropped %(dropped)d keys "
        "(pending indexes and presence, now derived or re-counted)" % c
    )
    if c["unknown"]:
        text += "; left %(unknown)d keys under cr: that 0.1 did not write" % c
    return text


class Migration:
    """
    One run of the migration on a link (L{chatroom.store.connection.RedisLink}:
    C{execute(*args)}, C{run(script, keys, args)}).

    @ivar counts: what was moved, by kind (see L{describe}).
    @ivar onMoved: called with each old key once it is moved or dropped
        (tests stop a migration half-way by raising from it).
    """

    log = Logger()

    def __init__(self, link, reactor=None, owner=owner, batch=BATCH, lockTimeout=LOCK_MS, poll=POLL,
                 onMoved=None):
        """
        @param owner: this process's name on the lock (a function of none).
        @param lockTimeout: the lock's lifetime, in milliseconds.
        """
        if reactor is None:
            reactor = getattr(link, "reactor", None)
        if reactor is None:
            from twisted.internet import reactor
        self.link = link
        self.reactor = reactor
        self.owner = owner() if callable(owner) else owner
        self.batch = batch
        self.lockTimeout = lockTimeout
        self.poll = poll
        self.onMoved = onMoved
        self.counts = Counter()
        self.unknown = []

    async def run(self):
        """
        Migrate if the data is not of this release's layout yet.

        @return: the counts if this process migrated; C{None} if the
            layout was already this one (or another process migrated).
        @raise LayoutError: see there.
        """
        if await self._layout() == LAYOUT_VERSION:
            return None
        waited = False
        while not await self._lock():
            if not waited:
                self.log.info("Waiting for another process migrating the storage ({holder})",
                              holder=await self.link.execute("GET", LOCK))
                waited = True
            await task.deferLater(self.reactor, self.poll, lambda: None)
            if await self._layout() == LAYOUT_VERSION:
                self.log.info("The storage was migrated by another process")
                return None
        renewing = task.LoopingCall(self._renew)
        renewing.clock = self.reactor
        renewing.start(self.lockTimeout / 3000.0, now=False)
        try:
            # Another process may have finished between our two looks.
            if await self._layout() == LAYOUT_VERSION:
                return None
            return await self._migrate()
        finally:
            renewing.stop()
            try:
                await self.link.run(_releaseLock, [LOCK], [self.owner])
            except Exception:
                # Redis is gone: the lock expires by itself.
                pass

    async def _layout(self):
        layout = await self.link.execute("GET", keys.LAYOUT)
        if layout not in (None, LAYOUT_VERSION):
            raise LayoutError("the storage holds layout %r, which this release does not know "
                              "(it reads layout %s)" % (layout, LAYOUT_VERSION))
        return layout

    async def _lock(self):
        if await self.link.execute("SET", LOCK, self.owner, "NX", "PX", self.lockTimeout) is not None:
            return True
        # Ours already, from an attempt of this process that failed.
        return bool(int(await self.link.run(_renewLock, [LOCK], [self.owner, self.lockTimeout])))

    def _renew(self):
        def renewed(held):
            if not int(held):
                # Stalled for longer than the lock lives: another process
                # may be migrating too.  Every move is safe to repeat, so
                # both finish the same job.
                self.log.warn("Lost the migration lock; carrying on")

        # A failure here (Redis lost) fails the migration's own commands.
        return self.link.run(_renewLock, [LOCK], [self.owner, self.lockTimeout]).addCallbacks(
            renewed, lambda failure: None)

    async def _migrate(self):
        started = time.monotonic()
        if await self._onCluster():
            if int(await self.link.execute("EXISTS", OLD_GROUPS)):
                raise LayoutError("this Redis Cluster holds data of release 0.1: migrate it on one Redis "
                                  "(start this release there, or python -m chatroom.store.migrate) first")
        else:
            self.log.info("Migrating the storage to layout {layout}", layout=LAYOUT_VERSION)
            for _ in range(3):
                # The second pass only checks that nothing is left.
                if not await self._pass():
                    break
            else:
                raise LayoutError("keys of the 0.1 layout are still there after three passes")
        await self.link.execute("SET", keys.LAYOUT, LAYOUT_VERSION)
        self.counts["seconds"] = round(time.monotonic() - started, 3)
        if self.unknown:
            self.log.warn("Left {count} keys under cr: that release 0.1 did not write, e.g. {examples}",
                          count=len(self.unknown), examples=", ".join(sorted(self.unknown)[:5]))
        self.log.info("Storage layout {layout}: {summary} in {seconds} s", layout=LAYOUT_VERSION,
                      summary=describe(self.counts), seconds=self.counts["seconds"], counts=dict(self.counts))
        return self.counts

    async def _onCluster(self):
        info = await self.link.execute("INFO", "cluster")
        if isinstance(info, bytes):
            info = info.decode("utf-8", "replace")
        return "cluster_enabled:1" in info

    async def _pass(self):
        # One SCAN of the old keys, moving each: the number moved.
        moved = 0
        cursor = "0"
        while True:
            cursor, found = await self.link.execute(
                "SCAN", cursor, "MATCH", OLD_PREFIX + "*", "COUNT", self.batch)
            if found:
                done = await _all([defer.ensureDeferred(self._move(key)) for key in dict.fromkeys(found)])
                moved += sum(done)
            if str(cursor) == "0":
                return moved

    async def _move(self, key):
        """
        Move (or drop) one key of 0.1: C{True} if it was there.
        """
        kind, _, rest = key[len(OLD_PREFIX):].partition(":")
        mover = getattr(self, "_move_" + kind, None)
        try:
            if mover is None:
                raise _NotOld()
            done = await mover(key, rest)
        except _NotOld:
            if key not in self.unknown:
                self.unknown.append(key)
                self.counts["unknown"] += 1
            return False
        if done and self.onMoved is not None:
            self.onMoved(key)
        return done

    async def _scanned(self, command, key):
        # The pages of an HSCAN or SSCAN of key (none if it is gone).
        cursor = "0"
        while True:
            cursor, page = await self.link.execute(command, key, cursor, "COUNT", self.batch)
            if page:
                yield page
            if str(cursor) == "0":
                return

    async def _drop(self, key):
        if int(await self.link.execute("UNLINK", key)):
            return True
        return False

    async def _rename(self, old, new, kind):
        # RENAME is atomic: the old key is there or the new one, never both
        # (unless something else wrote the new one: refuse to lose it).
        length = int(await self.link.execute("XLEN", old))
        renamed = await self.link.execute("RENAMENX", old, new).addErrback(_noSuchKey)
        if renamed is None:
            return False
        if not int(renamed):
            raise LayoutError("both %s and %s exist: not overwriting %s" % (old, new, new))
        self.counts[kind] += 1
        self.counts["messages"] += length
        return True

    # One method per kind of 0.1 key, by the part after "cr:".

    async def _move_user(self, key, user):
        # cr:user:X -> {u:X}: the password hash and the display name (not
        # 'new': a 0.1 account always has its lobby membership).
        _name(user)
        password, display = await self.link.execute("HMGET", key, "pw", "name")
        if password is not None:
            fields = ["pw", password] + (["name", display] if display is not None else [])
            await self.link.execute("HSET", keys.user(user), *fields)
            self.counts["users"] += 1
        return await self._drop(key)

    async def _move_ugroups(self, key, user):
        # cr:ugroups:X -> {u:X}:groups
        _name(user)
        async for groups in self._scanned("SSCAN", key):
            await self.link.execute("SADD", keys.userGroups(user), *groups)
        return await self._drop(key)

    async def _move_groups(self, key, rest):
        # cr:groups -> one {g:G} hash per group.
        if rest:
            raise _NotOld()
        async for groups in self._scanned("SSCAN", key):
            created = await _all([self.link.execute("HSETNX", keys.group(_name(g)), "created", "0")
                                  for g in groups])
            self.counts["groups"] += sum(int(c) for c in created)
        return await self._drop(key)

    async def _move_gmembers(self, key, group):
        # cr:gmembers:G -> {g:G}:members (user -> position at joining).
        _name(group)
        async for flat in self._scanned("HSCAN", key):
            await self.link.execute("HSET", keys.groupMembers(group), *flat)
            self.counts["memberships"] += len(flat) // 2
        return await self._drop(key)

    async def _move_gm(self, key, group):
        # cr:gm:G -> {g:G}:stream
        return await self._rename(key, keys.groupStream(_name(group)), "groupStreams")

    async def _move_dm(self, key, rest):
        # cr:dm:A:B -> {d:A|B}:stream, and each user's index of peers
        # names the other (first: the new stream's name says nothing of it).
        a, sep, b = rest.partition(":")
        _name(a), _name(b)
        await _all([self.link.execute("SADD", keys.userPeers(a), b),
                    self.link.execute("SADD", keys.userPeers(b), a),
                    # Who wrote is not known without reading the stream:
                    # both may have (their unread messages are then read
                    # entry by entry, never counted wrong).
                    self.link.execute("SADD", keys.userWrote(a), b),
                    self.link.execute("SADD", keys.userWrote(b), a)])
        return await self._rename(key, keys.directStream(a, b), "directStreams")

    async def _move_read(self, key, user):
        # cr:read:X, fields u:P and g:G -> {d:X|P}:read and {g:G}:read, X -> pos.
        _name(user)
        async for flat in self._scanned("HSCAN", key):
            writes = []
            for field, position in zip(flat[::2], flat[1::2]):
                kind, _, name = field.partition(":")
                if kind == "u" and name:
                    writes.append(self.link.execute("HSET", keys.directRead(user, _name(name)), user, position))
                elif kind == "g" and name:
                    writes.append(self.link.execute("HSET", keys.groupRead(_name(name)), user, position))
                else:
                    self.log.warn("Skipped read position {field!r} of {user}: not of release 0.1",
                                  field=field, user=user)
            await _all(writes)
            self.counts["readPositions"] += len(writes)
        return await self._drop(key)

    async def _move_cid(self, key, rest):
        # cr:cid:X:u:P:CID -> directCid(X, P, CID), 'msg_id|status' -> msg_id;
        # cr:cid:X:g:G:CID -> groupCid(X, G, CID).  A RENAME keeps the time
        # to live; a direct record's value is cut in place first, which is
        # harmless to repeat.  (The cid, last, may hold ':'; names never do.)
        parts = rest.split(":", 3)
        if len(parts) != 4 or parts[1] not in ("u", "g") or not parts[3]:
            raise _NotOld()
        sender, kind, name, clientId = _name(parts[0]), parts[1], _name(parts[2]), parts[3]
        if kind == "u":
            if not int(await self.link.run(_cutCid, [key], [])):
                return False
            new = keys.directCid(sender, name, clientId)
        else:
            new = keys.groupCid(sender, name, clientId)
        if await self.link.execute("RENAME", key, new).addErrback(_noSuchKey) is None:
            # Moved already, or expired meanwhile.
            return False
        self.counts["cids"] += 1
        return True

    async def _dropDerived(self, key, rest):
        # Pending indexes are derived from the peers and read positions now;
        # presence is re-counted by every node at its start.
        if await self._drop(key):
            self.counts["dropped"] += 1
            return True
        return False

    async def _dropWhole(self, key, rest):
        # The presence keys with no part after their kind.
        if rest:
            raise _NotOld()
        return await self._dropDerived(key, rest)

    _move_pending = _move_loc = _move_node = _dropDerived
    _move_online = _move_nodes = _move_broadcast = _dropWhole


async def migrate(link, **options):
    """
    Bring the data behind C{link} to this release's layout, once (see the
    module's docstring); the options of L{Migration}.

    @return: the counts of what this process moved, or C{None} if it had
        nothing to do.
    """
    return await Migration(link, **options).run()


if __name__ == "__main__":
    # The command lives with the other command-line code, away from the
    # migration itself (which logs, never prints).
    from chatroom.store.migrate_command import main

    main()
