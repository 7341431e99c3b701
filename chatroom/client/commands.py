# -*- test-case-name: tests.client.test_console -*-
"""
Slash commands: C{/name arguments}, one method C{cmd_name} each.

A command method takes the console and the argument text, and may be a
coroutine awaiting the server's replies; failures are reported by the
console.  The table L{HELP} is what C{/help} prints and what completion
offers.
"""

from chatroom import errors
from chatroom.client import display, groupcommands, personal
from chatroom.client.conversation import Conversation
from chatroom.messages import name as checkName

#: command -> (arguments, description); the order is /help's.
HELP = {
    "help": ("[COMMAND]", "list the commands, or explain one"),
    "register": ("[USER [DISPLAY NAME]]", "create an account (asks for a password)"),
    "login": ("[USER]", "log in (asks for a password)"),
    "logout": ("", "log out"),
    "who": ("[more]", "who is online (20 at a time; 'more' for the next page)"),
    "msg": ("USER TEXT", "send one message to USER"),
    "chat": ("USER | #GROUP", "talk to USER or GROUP: plain lines go there; /chat alone leaves"),
    "g": ("GROUP TEXT", "send one message to GROUP"),
    "join": ("GROUP", "join GROUP (created if it does not exist)"),
    "leave": ("GROUP", "leave GROUP"),
    "groups": ("", "the groups you are in, with your role"),
    "members": ("[#GROUP] [more]", "who is in a group, their roles, who is online"),
    "history": ("[USER | #GROUP] [N | more]", "earlier messages (shared|joined [#GROUP]: a group's rule)"),
    **groupcommands.HELP,
    "unread": ("", "show again the messages missed while you were away"),
    "inbox": ("", "your conversations, most recent first, with unread counts"),
    "retract": ("[MSG_ID]", "take back your last message in this conversation (or the one given)"),
    "receipts": ("on | off", "whether others see when you have read their messages"),
    "menu": ("", "leave the conversation and show the menu"),
    "quit": ("", "leave chatroom-client"),
}
HELP.update(personal.HELP)

#: short forms
ALIASES = {"h": "help", "?": "help", "w": "who", "m": "msg", "c": "chat", "q": "quit", "exit": "quit"}

#: what each argument of a command is, for completion
ARGUMENTS = {
    "help": ("command",),
    "login": ("user",),
    "msg": ("user",),
    "chat": ("conversation",),
    "g": ("group",),
    "join": ("group",),
    "leave": ("group",),
    "members": ("group",),
    "history": ("conversation",),
    **groupcommands.ARGUMENTS,
}
ARGUMENTS.update(personal.ARGUMENTS)

#: seconds /quit waits for messages still on their way
QUIT_WAIT = 5.0
WHO_PAGE = 20
HISTORY_DEFAULT = 20
CHAT_CONTEXT = 10


class Commands(groupcommands.GroupCommands, personal.PersonalCommands):
    """
    The slash commands of a L{chatroom.client.console.Console}.
    """

    def __init__(self, console):
        self.console = console
        self._whoCursor = None
        self._historyBefore = {}
        self._lastHistory = None

    @property
    def out(self):
        return self.console.out

    @property
    def connection(self):
        return self.console.connection

    def run(self, line):
        """
        Run the command on C{line} (which starts with C{/}).

        @return: whatever the command returns (a coroutine, a Deferred or
            C{None}); the console reports its failure.
        """
        word, _, rest = line[1:].partition(" ")
        word = word.lower()
        word = ALIASES.get(word, word)
        method = getattr(self, "cmd_" + word.replace("-", "_"), None) if word in HELP else None
        if method is None:
            self.out("! unknown command /%s; /help lists them" % (display.clean(word),))
            return None
        return method(rest.strip())

    def _needLogin(self):
        if not self.console.signedIn:
            self.out("! log in first (/login, or /register to create an account)")
            return True
        return False

    # Accounts.

    async def cmd_register(self, args):
        user, _, displayName = args.partition(" ")
        if not user:
            user = await self.console.ask("new user name: ")
        user = checkName("user", user.strip())
        password = await self.console.ask("password for %s: " % (user,), password=True)
        again = await self.console.ask("password again: ", password=True)
        if password != again:
            self.out("! the passwords differ; nothing was registered")
            return
        await self.connection.register(user, password, displayName.strip() or None)
        self.out("* registered %s" % (user,))
        await self.connection.login(user, password)

    async def cmd_login(self, args):
        user, _, password = args.partition(" ")
        if not user:
            user = await self.console.ask("user name: ", complete="user")
        user = checkName("user", user.strip())
        if not password:
            password = await self.console.ask("password for %s: " % (user,), password=True)
        await self.connection.login(user, password)

    async def cmd_logout(self, args):
        if self._needLogin():
            return
        self.console.conversation = None
        self.console.loggingOut = True
        try:
            await self.connection.logout()
        except BaseException:
            self.console.loggingOut = False
            raise
        self.out("* logged out")
        self.console.menu.show()

    # People and groups.

    async def cmd_who(self, args):
        if self._needLogin():
            return
        cursor = None
        if args.lower() == "more":
            if self._whoCursor is None:
                self.out("(no more users; /who starts again)")
                return
            cursor = self._whoCursor
        reply = await self.connection.request("users", limit=WHO_PAGE, cursor=cursor)
        entries = [e for e in reply.get("users", []) if isinstance(e, dict)]
        self.console.users.update(e["user"] for e in entries if isinstance(e.get("user"), str))
        self._whoCursor = reply.get("cursor")
        total = reply.get("total", len(entries))
        self.out("Online now (%s):" % (total,))
        for row in display.users(entries):
            self.out("  " + row)
        if self._whoCursor is not None:
            self.out("  -- /who more for the next page --")

    async def cmd_join(self, args):
        if self._needLogin():
            return
        group = checkName("group", args.lstrip("#"))
        try:
            await self.connection.request("group.join", group=group)
            self.out("* you joined #%s" % (group,))
        except errors.NoSuchGroup:
            await self.connection.request("group.create", group=group)
            self.out("* you created #%s" % (group,))
        self.console.groups.add(group)

    async def cmd_leave(self, args):
        if self._needLogin():
            return
        group = checkName("group", args.lstrip("#"))
        await self.connection.request("group.leave", group=group)
        self.console.groups.discard(group)
        if self.console.conversation == Conversation(group=group):
            self.console.conversation = None
            self.console.changed()
        self.out("* you left #%s" % (group,))

    # Messages.

    def cmd_msg(self, args):
        if self._needLogin():
            return None
        user, _, text = args.partition(" ")
        if not user or not text.strip():
            self.out("! usage: /msg USER TEXT")
            return None
        return self.console.say(Conversation(peer=checkName("user", user)), text)

    def cmd_g(self, args):
        if self._needLogin():
            return None
        group, _, text = args.partition(" ")
        if not group or not text.strip():
            self.out("! usage: /g GROUP TEXT")
            return None
        return self.console.say(Conversation(group=checkName("group", group.lstrip("#"))), text)

    async def cmd_chat(self, args):
        if not args:
            self.console.conversation = None
            self.console.changed()
            self.out("* no current conversation: plain lines are menu choices again")
            return
        if self._needLogin():
            return
        conversation = Conversation.parse(args.split()[0])
        previous = self.console.conversation
        self.console.conversation = conversation
        self.console.activity.entered(conversation)
        self.console.changed()
        self.out("* now talking to %s: plain lines go there (/chat alone or /menu to leave)" % (conversation.label,))
        try:
            await self._history(conversation, CHAT_CONTEXT, None)
        except (errors.NoSuchUser, errors.NoSuchGroup, errors.NotMember) as e:
            # Nobody to talk to there: back to where we were.
            self.console.conversation = previous
            self.console.changed()
            hint = " (/join %s first)" % (conversation.group,) if isinstance(e, errors.NotMember) else ""
            self.out("! %s: %s%s" % (conversation.label, display.clean(e.message), hint))

    def cmd_menu(self, args):
        self.console.conversation = None
        self.console.changed()
        self.console.menu.show()

    async def cmd_history(self, args):
        if self._needLogin():
            return
        words = args.split()
        if words and words[0] in ("shared", "joined"):
            return await self.historyRule(words[0], " ".join(words[1:]))
        conversation, limit, more = self.console.conversation, HISTORY_DEFAULT, False
        for word in words:
            if word.lower() == "more":
                more = True
            elif word.isdigit():
                limit = max(1, min(int(word), 200))
            else:
                conversation = Conversation.parse(word)
        if more and conversation is None:
            conversation = self._lastHistory
        if conversation is None:
            self.out("! usage: /history USER|#GROUP [N|more] (or /chat first)")
            return
        before = None
        if more:
            before = self._historyBefore.get(conversation)
            if before is None:
                self.out("(no earlier messages of %s)" % (conversation.label,))
                return
        await self._history(conversation, limit, before)

    async def _history(self, conversation, limit, before):
        reply = await self.connection.request("history", limit=limit, before=before, **conversation.fields())
        messages = [m for m in reply.get("messages", []) if isinstance(m, dict)]
        self._lastHistory = conversation
        if not messages:
            self.out("(no earlier messages with %s)" % (conversation.label,))
            self._historyBefore.pop(conversation, None)
            return
        self.out("--- history of %s ---" % (conversation.label,))
        for m in messages:
            self.out(display.message(conversation, m, self.connection.user, self.console.now))
        if reply.get("more"):
            self._historyBefore[conversation] = messages[0].get("msg_id")
            self.out("--- /history %s more for earlier messages ---" % (conversation.label,))
        else:
            self._historyBefore.pop(conversation, None)

    def cmd_unread(self, args):
        batches = self.connection.inbox.lastMissed
        if not batches:
            self.out("No missed messages.")
            return
        for line in display.missed(batches, self.connection.user, self.console.now):
            self.out(line)

    async def cmd_inbox(self, args):
        if self._needLogin():
            return
        reply = await self.connection.request("conversations", limit=50)
        entries = [e for e in reply.get("conversations", []) if isinstance(e, dict)]
        if not entries:
            self.out("No conversations yet.")
            return
        self.out("Conversations (most recent first):")
        for line in display.conversations(entries, self.connection.user, self.console.now):
            self.out(line)

    async def cmd_retract(self, args):
        if self._needLogin():
            return
        conversation = self.console.conversation
        if conversation is None:
            self.out("! /chat to a conversation first, then /retract [MSG_ID]")
            return
        msgId = args.split()[0] if args else self.console.activity.lastSent.get(conversation)
        if msgId is None:
            self.out("! you have sent nothing to %s here to retract" % (conversation.label,))
            return
        await self.connection.request("retract", msg_id=msgId, **conversation.fields())
        self.out("* message retracted in %s" % (conversation.label,))

    async def cmd_receipts(self, args):
        if self._needLogin():
            return
        word = args.lower()
        if word not in ("on", "off"):
            self.out("! usage: /receipts on|off")
            return
        await self.connection.request("settings.set", read_receipts=word == "on")
        self.out("* read receipts %s" % (word,))

    # The program.

    def cmd_help(self, args):
        word = ALIASES.get(args.lstrip("/").lower(), args.lstrip("/").lower())
        if word:
            if word not in HELP:
                self.out("! no command /%s" % (display.clean(word),))
                return
            usage, text = HELP[word]
            self.out("/%s %s  %s" % (word, usage, text))
            return
        self.out("Commands:")
        columns = max(display.width("/%s %s" % (w, u)) for w, (u, _) in HELP.items()) + 2
        for w, (usage, text) in HELP.items():
            self.out("  " + display.pad("/%s %s" % (w, usage), columns) + text)
        self.out("In a conversation (/chat), plain lines are sent there.  Tab completes commands and names.")

    async def cmd_quit(self, args):
        if getattr(self, "_quitting", False):
            # Piped input that ends after a /quit asks again: once is enough.
            return
        self._quitting = True
        outbox = self.connection.outbox
        waiting = len(outbox.queue)
        if waiting and outbox.online:
            # Give messages just typed a moment to reach the server.
            self.out("(sending %d message%s first)" % (waiting, "" if waiting == 1 else "s"))
            await outbox.whenEmpty().addTimeout(QUIT_WAIT, self.connection.clock).addErrback(lambda f: None)
        waiting = len(outbox.queue)
        if waiting:
            self.out("! %d message%s could not be sent" % (waiting, "" if waiting == 1 else "s"))
        self.out("Bye.")
        self.console.quit()
