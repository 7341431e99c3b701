# -*- test-case-name: tests.handlers.test_accounts -*-
"""
User accounts: password hashes and display names.
"""

import time

from zope.interface import implementer

from chatroom.store import faults, keys
from chatroom.store.connection import allOf
from chatroom.store.interfaces import IAccountStore
from chatroom.store.names import redisClaims
from chatroom.store.scripts import Script

LOBBY = "lobby"

_register = Script("register")
_join = Script("group_join", ["_group"])


@implementer(IAccountStore)
class AccountStore:
    """
    Users, one hash each (C{{u:NAME}}).
    """

    faults = faults.NONE

    def __init__(self, link):
        self.link = link
        self.names = redisClaims(link, keys.userName, self._exists)

    async def _exists(self, user):
        return bool(int(await self.link.execute("EXISTS", keys.user(user))))

    def nameTaken(self, user):
        """
        Whether another name that is the same name as C{user} holds it.
        """
        return self.names.taken(user)

    async def create(self, user, passwordHash, displayName):
        """
        Create C{user}, a member of the lobby; fails with L{UserExists}, or
        L{NameTaken} when another name is the same name.

        The name's keys are claimed first (each in its own slot,
        L{chatroom.store.names}); the account is the commit point; the
        lobby membership follows in the lobby's slot (L{settle} finishes it
        at login if the server stopped in between).
        """
        await self.names.claim(user)
        self.faults("register.claimed")
        await self.link.run(_register, [keys.user(user), keys.userGroups(user)], [passwordHash, displayName, LOBBY, int(time.time() * 1000)])
        self.faults("register.created")
        await self.settle(user)

    async def settle(self, user):
        """
        Record a new account's lobby membership (again: it is idempotent).
        """
        await self.link.run(_join, keys.groupKeys(LOBBY), [user, 0, LOBBY, 0])
        self.faults("register.joined")
        await self.link.execute("HDEL", keys.user(user), "new")

    async def credentials(self, user):
        """
        C{(password hash, display name)} of C{user}, or C{None} if there
        is no such user.
        """
        passwordHash, displayName = await self.link.execute("HMGET", keys.user(user), "pw", "name")
        if passwordHash is None:
            return None
        return passwordHash, displayName or user

    def ensureLobby(self):
        """
        Make sure the lobby exists: it always does.
        """
        return allOf([self.link.execute("HSETNX", keys.group(LOBBY), "created", "0"),
                      self.link.execute("ZADD", keys.DIRECTORY, 0, LOBBY)])
