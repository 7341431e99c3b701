# -*- test-case-name: tests.client.test_personal -*-
"""
The personal-control commands of the terminal client (/block, /unblock,
/blocks, /passwd, /delete-account, /name, /whois) and how a C{bye} from the
server is shown; mixed into L{chatroom.client.commands.Commands}.
"""

from chatroom.client import display
from chatroom.messages import name as checkName

#: command -> (arguments, description), added to /help's table.
HELP = {
    "block": ("USER", "block USER: their messages are refused, their presence not shown"),
    "unblock": ("USER", "unblock USER"),
    "blocks": ("", "the users you blocked"),
    "name": ("DISPLAY NAME", "set the name others see beside your user name"),
    "whois": ("USER", "USER's display name and whether they are online"),
    "passwd": ("", "change your password (asks for the old one and the new one twice)"),
    "delete-account": ("", "delete your account for good (asks for the password and a confirmation)"),
}

#: what each argument is, for completion
ARGUMENTS = {"block": ("user",), "unblock": ("user",), "whois": ("user",)}

#: a bye's reason, as the user reads it
BYE_REASONS = {
    "logout": "you logged out",
    "password_changed": "your password was changed on another device; log in with the new one",
    "account_deleted": "this account was deleted",
    "banned": "this account is banned from the server",
    "shutdown": "the server is shutting down; reconnecting",
    "idle": "the connection was idle too long; reconnecting",
    "too_large": "a message was too large for the server",
    "slow": "the connection fell too far behind",
}

#: reasons after which logging in again with the same password is pointless
FINAL_REASONS = frozenset({"password_changed", "account_deleted", "banned"})

#: what /delete-account wants typed to go on
CONFIRMATION = "delete my account"


def byeLine(event):
    """
    The line shown for a C{bye} event.
    """
    reason = event.get("reason")
    text = BYE_REASONS.get(reason) if isinstance(reason, str) else None
    return "* the server closed the connection: %s" % (text or display.clean(str(reason)),)


class PersonalCommands:
    """
    Mixin of the commands above (it uses C{out}, C{connection},
    C{console} and C{_needLogin} of L{chatroom.client.commands.Commands}).
    """

    def _user(self, args, usage):
        user = args.split()[0] if args.split() else ""
        if not user:
            self.out("! usage: " + usage)
            return None
        return checkName("user", user)

    async def cmd_block(self, args):
        user = None if self._needLogin() else self._user(args, "/block USER")
        if user:
            await self.connection.request("block", user=user)
            self.out("* you blocked %s" % (display.clean(user),))

    async def cmd_unblock(self, args):
        user = None if self._needLogin() else self._user(args, "/unblock USER")
        if user:
            await self.connection.request("unblock", user=user)
            self.out("* you unblocked %s" % (display.clean(user),))

    async def cmd_blocks(self, args):
        if self._needLogin():
            return
        users = [u for u in (await self.connection.request("blocks")).get("users", []) if isinstance(u, str)]
        self.out("Blocked: " + ", ".join(display.clean(u) for u in users) if users else "You blocked nobody.")

    async def cmd_name(self, args):
        if self._needLogin():
            return
        if not args:
            self.out("! usage: /name DISPLAY NAME")
            return
        reply = await self.connection.request("profile.set", name=args)
        self.out("* your display name is now %s" % (display.clean(reply.get("name", args)),))

    async def cmd_whois(self, args):
        user = None if self._needLogin() else self._user(args, "/whois USER")
        if user:
            reply = await self.connection.request("user.info", user=user)
            self.out("%s (%s): %s" % (display.clean(reply.get("user", user)), display.clean(reply.get("name", user)),
                                      "online" if reply.get("online") else "offline"))

    async def cmd_passwd(self, args):
        if self._needLogin():
            return
        old = await self.console.ask("current password: ", password=True)
        new = await self.console.ask("new password: ", password=True)
        again = await self.console.ask("new password again: ", password=True)
        if not new or new != again:
            self.out("! the new passwords differ; nothing was changed")
            return
        await self.connection.request("password.change", old=old, new=new)
        self.connection.credentials = (self.connection.credentials or (self.connection.user,))[:1] + (new,)
        self.out("* password changed; your other devices were logged out")

    async def cmd_delete_account(self, args):
        if self._needLogin():
            return
        password = await self.console.ask("password: ", password=True)
        typed = await self.console.ask('type "%s" to go on: ' % (CONFIRMATION,))
        if typed.strip() != CONFIRMATION:
            self.out("! not confirmed; nothing was deleted")
            return
        self.console.loggingOut = True
        self.connection.credentials = None
        try:
            await self.connection.request("account.delete", password=password)
        except BaseException:
            self.console.loggingOut = False
            raise
        self.out("* your account is deleted")
