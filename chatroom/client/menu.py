# -*- test-case-name: tests.client.test_console -*-
"""
The numbered menu, for people who do not know the commands.

In the spirit of the original seed client: log in / register / exit, then
the chat actions.  Every choice is a thin front for a slash command, so the
menu and the commands cannot drift apart.
"""

from chatroom.client.conversation import Conversation
from chatroom.messages import name as checkName

#: (label, method name) before and after login
BEFORE_LOGIN = (
    ("log in", "logIn"),
    ("register", "register"),
    ("exit", "exit"),
)
AFTER_LOGIN = (
    ("show online users", "who"),
    ("send a group message", "groupChat"),
    ("chat with one user", "userChat"),
    ("read offline messages", "unread"),
    ("exit", "exit"),
)


class Menu:
    """
    The menu of a L{chatroom.client.console.Console}.
    """

    def __init__(self, console):
        self.console = console

    @property
    def entries(self):
        """
        The choices that make sense now.
        """
        return AFTER_LOGIN if self.console.signedIn else BEFORE_LOGIN

    def show(self):
        """
        Print the menu.
        """
        out = self.console.out
        out("")
        for number, (label, _) in enumerate(self.entries, 1):
            out("  %d. %s" % (number, label))
        out("Type a number, or a command (/help lists them).")

    def choose(self, line):
        """
        Act on a menu choice (a line typed outside a conversation).
        """
        entries = self.entries
        if line.isdigit() and 1 <= int(line) <= len(entries):
            return getattr(self, "do_" + entries[int(line) - 1][1])()
        self.console.out("! type a number from 1 to %d, or /help" % (len(entries),))
        self.show()
        return None

    def _command(self, line):
        return self.console.commands.run(line)

    def do_logIn(self):
        return self._command("/login")

    def do_register(self):
        return self._command("/register")

    def do_exit(self):
        return self._command("/quit")

    def do_who(self):
        return self._command("/who")

    def do_unread(self):
        return self._command("/unread")

    async def do_groupChat(self):
        groups = sorted(self.console.groups) or ["lobby"]
        answer = await self.console.ask(
            "group (%s) [%s]: " % (", ".join("#" + g for g in groups), groups[0]), complete="group"
        )
        group = checkName("group", answer.strip().lstrip("#") or groups[0])
        if group not in self.console.groups:
            await self._command("/join " + group)
        await self._command("/chat " + Conversation(group=group).label)

    async def do_userChat(self):
        answer = await self.console.ask("chat with user: ", complete="user")
        user = checkName("user", answer.strip())
        await self._command("/chat " + user)
