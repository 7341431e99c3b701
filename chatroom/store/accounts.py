# -*- test-case-name: tests.handlers.test_accounts -*-
"""
User accounts: password hashes and display names.
"""

from zope.interface import implementer

from chatroom.store import keys
from chatroom.store.interfaces import IAccountStore
from chatroom.store.scripts import Script

LOBBY = "lobby"

_register = Script("register")


@implementer(IAccountStore)
class AccountStore:
    """
    Users, stored as one hash each.
    """

    def __init__(self, link):
        self.link = link

    def create(self, user, passwordHash, displayName):
        """
        Create C{user}, a member of the lobby; fails with L{UserExists}.
        """
        return self.link.run(
            _register,
            [keys.user(user), keys.userGroups(user), keys.groupMembers(LOBBY),
             keys.readPositions(user), keys.groupStream(LOBBY), keys.GROUPS],
            [user, passwordHash, displayName, LOBBY],
        )

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
        return self.link.execute("SADD", keys.GROUPS, LOBBY)
