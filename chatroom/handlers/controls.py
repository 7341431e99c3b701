# -*- test-case-name: tests.handlers.test_controls -*-
"""
Handlers for personal controls (PROTOCOL 1.1): block, unblock, blocks,
password.change, account.delete, profile.set, user.info, admin.ban and
admin.unban.
"""

from twisted.logger import Logger

from chatroom import errors, securitylog
from chatroom.connections import addressOf
from chatroom.controls import (
    AccountDelete, AdminBan, AdminUnban, Block, Blocks, PasswordChange, ProfileSet, Unblock, UserInfo)
from chatroom.dispatch import handles
from chatroom.handlers.accounts import _throttled
from chatroom.events import groupEvent
from chatroom.protocol import encode


class ControlHandler:
    """
    What a user controls about itself, and the server admins' bans.
    """

    log = Logger()

    def __init__(self, controls, accounts, online, delivery, relay, hasher, logins, admins=frozenset()):
        """
        @param controls: the L{IControlStore}.
        @param accounts: the L{IAccountStore} (password hashes).
        @param online: the L{IPresenceStore} (whether a user is online).
        @param delivery: the L{Delivery} (its registry finds the user's
            connections here; its blocks follow blocks).
        @param relay: the L{Relay} (the same on the other nodes).
        @param hasher: the L{PasswordHasher}.
        @param logins: the L{LoginThrottle}: a wrong password here counts
            as a failed login.
        @param admins: the server admins' names.
        """
        self.controls = controls
        self.accounts = accounts
        self.online = online
        self.delivery = delivery
        self.relay = relay
        self.hasher = hasher
        self.logins = logins
        self.admins = frozenset(admins)

    # Blocks.

    def _blocksChanged(self, user, peer, blocked):
        self.delivery.blocks.changed(user, peer, blocked)
        self.relay.blockChanged(user, peer, blocked)

    @handles(Block)
    async def block(self, session, request):
        user, peer = session.user, request.user
        if peer == user:
            raise errors.BadRequest("field 'user': you cannot block yourself")
        await self.controls.block(user, peer)
        self._blocksChanged(user, peer, True)
        return None

    @handles(Unblock)
    async def unblock(self, session, request):
        await self.controls.unblock(session.user, request.user)
        self._blocksChanged(session.user, request.user, False)
        return None

    @handles(Blocks)
    async def blocks(self, session, request):
        return {"users": await self.controls.blocksOf(session.user)}

    # The account.

    async def _verified(self, session, password):
        # The caller's password hash, if password is right; throttled and
        # logged as a login is.
        user, address = session.user, addressOf(session)
        with _throttled(self.logins.attempt, securitylog.loginThrottled, address, user):
            credentials = await self.accounts.credentials(user)
            valid = await self.hasher.verify(credentials and credentials[0], password)
            if not valid or credentials is None:
                securitylog.loginFailed(address, user)
                raise errors.AuthFailed("wrong password")
        return credentials[0]

    def _close(self, user, reason, exclude=None):
        # Every connection of user, here and on the other nodes, but exclude.
        for other in list(self.delivery.registry.sessions(user)):
            if other is not exclude:
                other.bye(reason)
        self.relay.kick(user, reason)

    @handles(PasswordChange)
    async def changePassword(self, session, request):
        user = session.user
        checked = await self._verified(session, request.old)
        if not await self.controls.setPassword(user, checked, await self.hasher.hash(request.new)):
            # Changed by another request meanwhile: the old one is wrong now.
            raise errors.AuthFailed("wrong password")
        self.log.info("Password of {user} changed", user=user)
        self._close(user, "password_changed", exclude=session)
        return None

    @handles(AccountDelete)
    async def deleteAccount(self, session, request):
        user = session.user
        checked = await self._verified(session, request.password)
        left = await self.controls.delete(user, checked)
        if left is None:
            raise errors.AuthFailed("wrong password")
        self.log.info("Account {user} deleted", user=user)
        for group in left:
            self.delivery.groupEvent(group, encode(groupEvent(group, user, False)))
        session.byeAfterReply("account_deleted")
        self._close(user, "account_deleted", exclude=session)
        return None

    @handles(ProfileSet)
    async def setProfile(self, session, request):
        await self.controls.setDisplayName(session.user, request.name)
        return {"name": request.name}

    @handles(UserInfo)
    async def userInfo(self, session, request):
        user = request.user
        name = await self.controls.info(user)
        return {"user": user, "name": name, "online": bool(await self.online.isOnline(user))}

    # Server bans.

    def _mustBeAdmin(self, session):
        if session.user not in self.admins:
            raise errors.Forbidden("only server admins may do that")

    @handles(AdminBan)
    async def ban(self, session, request):
        self._mustBeAdmin(session)
        if request.user == session.user:
            raise errors.BadRequest("field 'user': you cannot ban yourself")
        await self.controls.setBanned(request.user, True)
        securitylog.userBanned(addressOf(session), request.user, session.user)
        self._close(request.user, "banned")
        return None

    @handles(AdminUnban)
    async def unban(self, session, request):
        self._mustBeAdmin(session)
        await self.controls.setBanned(request.user, False)
        securitylog.userUnbanned(addressOf(session), request.user, session.user)
        return None
