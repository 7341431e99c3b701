# -*- test-case-name: tests.handlers.test_accounts -*-
"""
Handlers for accounts and connections: register, login, logout, users, ping.
"""

from twisted.logger import Logger

from chatroom import errors, securitylog
from chatroom.connections import addressOf
from chatroom.dispatch import handles
from chatroom.messages import Login, Logout, Ping, Register, Users
from chatroom.metrics import NO_METRICS


class AccountHandler:
    """
    Registration, authentication and the list of online users.
    """

    log = Logger()

    def __init__(self, accounts, online, presence, backlog, hasher, logins, metrics=NO_METRICS, controls=None):
        """
        @param accounts: the L{IAccountStore}.
        @param online: the L{IPresenceStore} (who is online, cluster-wide).
        @param presence: the L{Presence} that logs connections in and out.
        @param backlog: the L{Backlog} that pushes missed messages.
        @param hasher: the L{PasswordHasher}.
        @param logins: the L{LoginThrottle} of failed attempts.
        @param metrics: the L{chatroom.metrics.Metrics} of logins.
        @param controls: the L{IControlStore} (server bans), or C{None}.
        """
        self.metrics = metrics
        self.accounts = accounts
        self.online = online
        self.presence = presence
        self.backlog = backlog
        self.hasher = hasher
        self.logins = logins
        self.controls = controls

    @handles(Register)
    async def register(self, session, request):
        accounts = self.accounts
        address = addressOf(session)
        with _throttled(self.logins.register, securitylog.registerThrottled, address, request.user):
            # Refuse a taken name before paying for a hash; the store
            # refuses it again atomically.
            if await accounts.credentials(request.user) is not None:
                raise errors.UserExists()
            if await accounts.nameTaken(request.user):
                raise errors.NameTaken()
            passwordHash = await self.hasher.hash(request.password)
            await accounts.create(request.user, passwordHash, request.name or request.user)
        self.log.info("Registered {user}", user=request.user)
        return {"user": request.user}

    @handles(Login)
    async def login(self, session, request):
        # Failed attempts slow down further guesses (see chatroom.logins).
        address = addressOf(session)
        try:
            with _throttled(self.logins.attempt, securitylog.loginThrottled, address, request.user):
                credentials = await self.accounts.credentials(request.user)
                valid = await self.hasher.verify(credentials and credentials[0], request.password)
                if not valid or credentials is None:
                    # One line for both, never the password.
                    securitylog.loginFailed(address, request.user)
                    raise errors.AuthFailed()
        except (errors.AuthFailed, errors.RateLimited) as e:
            self.metrics.loginFailed(e.code)
            raise
        self.metrics.loggedIn()
        # Told only to someone who knows the password.
        if self.controls is not None and await self.controls.isBanned(request.user):
            raise errors.Forbidden("this account is banned from the server")
        if session.user == request.user:
            # Already this user here: nothing changes, nobody is told.
            online = await self.online.count()
            return {"user": request.user, "name": credentials[1], "online": online}
        if session.user is not None:
            # Logging in again on a logged-in connection switches user.
            self.presence.loggedOut(session)
        online = await self.presence.loggedIn(session, request.user)
        if session.user == request.user:
            # No longer held to the login deadline and budget.
            session.markLoggedIn()
            # The missed messages come after the login's reply.
            session.callAfterReply(self.backlog.push, session)
        return {"user": request.user, "name": credentials[1], "online": online}

    @handles(Logout)
    def logout(self, session, request):
        session.byeAfterReply("logout")
        return None

    @handles(Users)
    async def users(self, session, request):
        users, cursor, total = await self.online.page(request.cursor, request.limit)
        return {
            "users": [{"user": user, "name": name} for user, name in users],
            "cursor": cursor,
            "total": total,
        }

    @handles(Ping)
    def ping(self, session, request):
        return None


def _throttled(start, report, address, user):
    """
    C{start(address, user)}: the throttle's attempt (a context manager);
    when the throttle refuses it, C{report} logs the refusal first.
    """
    try:
        return start(address, user)
    except errors.RateLimited as e:
        report(address, user, e.extra.get("retry_after"))
        raise
