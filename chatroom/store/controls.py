# -*- test-case-name: tests.handlers.test_controls -*-
"""
Personal controls in Redis: blocks, password changes, account deletion,
display names and server bans (PROTOCOL 1.1, "Personal controls").

A block is kept twice: in the blocker's slot, C{{u:X}:blocks}, the truth
of C{blocks} and the commit point of C{block}/C{unblock}; and in the
conversation's slot, C{{d:A|B}:blocked} (the users of the pair who blocked
the other), which the send script checks in the same step that stores a
message.  The marker follows the blocks: the blocker's
C{{u:X}:blocks:pending} notes a peer between the two writes, and the
blocker's next login (L{blocksOf}) brings the marker of every pending peer
in line (docs/storage.rst, "Requests that change two slots").
"""

from twisted.internet import defer
from zope.interface import implementer

from chatroom import errors
from chatroom.store import faults, keys
from chatroom.store.connection import allOf
from chatroom.store.interfaces import IControlStore
from chatroom.store.scripts import Script

#: The most users one user may block.
MAX_BLOCKS = 1000

_block = Script("block")
_unblock = Script("unblock")
_blocksRead = Script("blocks_read")
_blockMark = Script("block_mark")
_accountSet = Script("account_set")
_passwordSet = Script("password_set")
_accountDelete = Script("account_delete")


def tooManyBlocks(most):
    """
    The error for a user who has blocked C{most} users, the most allowed.
    """
    return errors.BadRequest("field 'user': you have blocked %d users, the most allowed; unblock one first" % (most,))


@implementer(IControlStore)
class ControlStore:
    """
    Blocks, passwords, deletion, display names and bans, on Redis.
    """

    faults = faults.NONE

    def __init__(self, link, groups, maxBlocks=MAX_BLOCKS):
        """
        @param groups: the L{GroupStore} (a deleted account leaves its groups).
        """
        self.link = link
        self.groups = groups
        self.maxBlocks = maxBlocks

    async def _mustExist(self, user):
        # Every account has a password hash until it is deleted.
        if await self.link.execute("HGET", keys.user(user), "pw") is None:
            raise errors.NoSuchUser()

    async def block(self, user, peer):
        """
        C{user} blocks C{peer}: C{True} if it was not blocked before.
        """
        await self._mustExist(peer)
        added = int(await self.link.run(
            _block, [keys.userBlocks(user), keys.userBlocksPending(user)], [peer, self.maxBlocks]))
        if added < 0:
            raise tooManyBlocks(self.maxBlocks)
        self.faults("block.listed")
        await self._mark(user, peer, True)
        return bool(added)

    async def unblock(self, user, peer):
        """
        C{user} unblocks C{peer}: C{True} if it was blocked.
        """
        removed = int(await self.link.run(_unblock, [keys.userBlocks(user), keys.userBlocksPending(user)], [peer]))
        self.faults("unblock.listed")
        await self._mark(user, peer, False)
        return bool(removed)

    async def _mark(self, user, peer, blocked):
        # The conversation's marker (and seal) follows the list; then the
        # note goes.
        await self.link.run(
            _blockMark, [keys.directStream(user, peer), keys.directBlocked(user, peer), keys.directSeal(user, peer)],
            [user, 1 if blocked else 0])
        self.faults("block.marked")
        await self.link.execute("SREM", keys.userBlocksPending(user), peer)

    async def blocksOf(self, user):
        """
        The users C{user} has blocked, sorted; the markers a stopped
        request left behind are brought in line first (at login).
        """
        blocked, pending = await self.link.run(_blocksRead, [keys.userBlocks(user), keys.userBlocksPending(user)], [])
        if pending:
            listed = set(blocked)
            await allOf([defer.ensureDeferred(self._mark(user, peer, peer in listed)) for peer in pending])
        return sorted(blocked)

    async def setPassword(self, user, checked, new):
        """
        Replace C{user}'s password hash C{checked} (the one just verified)
        by C{new}: C{False} if it changed meanwhile.
        """
        return bool(int(await self.link.run(_passwordSet, [keys.user(user)], [checked, new])))

    async def delete(self, user, checked):
        """
        Delete C{user}'s account (its hash C{checked} just verified): its
        groups are left, then the account loses its password and is marked
        deleted (the commit point: it can no longer log in; its hash stays,
        so its name stays taken).  A request stopped in between leaves an
        account with fewer groups, which the client's retry deletes.

        @return: the groups it left, or C{None} if the password changed
            meanwhile (the account stays).
        """
        left = []
        for group in sorted(await self.link.execute("SMEMBERS", keys.userGroups(user))):
            try:
                await self.groups.leave(group, user)
                left.append(group)
            except (errors.NoSuchGroup, errors.NotMember):
                # A stale index entry: the leave only cleans it.
                await self.link.execute("SREM", keys.userGroups(user), group)
        self.faults("delete.left")
        if not int(await self.link.run(_accountDelete, [keys.user(user)], [checked])):
            return None
        return left

    async def setDisplayName(self, user, name):
        """
        Set C{user}'s display name.
        """
        await self.link.run(_accountSet, [keys.user(user)], ["name", name])

    async def setBanned(self, user, banned):
        """
        Ban C{user} from the server (or lift it); L{NoSuchUser}.
        """
        await self.link.run(_accountSet, [keys.user(user)], ["banned", "1" if banned else ""])

    async def isBanned(self, user):
        """
        Whether C{user} is banned from the server.
        """
        return bool(int(await self.link.execute("HEXISTS", keys.user(user), "banned")))

    async def info(self, user):
        """
        C{user}'s display name; L{NoSuchUser} (deleted accounts too).
        """
        name, passwordHash = await self.link.execute("HMGET", keys.user(user), "name", "pw")
        if passwordHash is None:
            raise errors.NoSuchUser()
        return name or user
