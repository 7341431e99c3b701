# -*- test-case-name: tests.client.test_console -*-
"""
What a typed line means, and what the user is told.

The console sits between the terminal (L{chatroom.client.ui}) and the
session (L{chatroom.client.connection}): a line is the answer to a question
the console asked, a slash command, a menu choice, or a message for the
current conversation.  Everything it writes goes through C{out}, one line
at a time, so the terminal can print it above the line being typed.
"""

import inspect

from twisted.internet.defer import CancelledError, Deferred, ensureDeferred, succeed
from twisted.internet.error import ConnectionClosed
from twisted.logger import Logger

from chatroom.client import display
from chatroom.client.activity import Activity
from chatroom.client.commands import Commands
from chatroom.client.connection import NotConnected
from chatroom.client.conversation import Conversation
from chatroom.client.menu import Menu
from chatroom.client.personal import byeLine
from chatroom.errors import ChatError


class Console:
    """
    @ivar conversation: the current L{Conversation}, where plain lines go,
        or C{None} (plain lines are menu choices).
    @ivar users: user names seen (for completion).
    @ivar groups: group names seen (for completion).
    @ivar changed: called when the prompt may have changed; the terminal
        sets it to redraw.
    @ivar quit: called to leave the program.
    """

    log = Logger()

    def __init__(self, out, serverName="the server", now=None):
        """
        @param out: C{out(line)} writes one line for the user.
        @param now: a clock for timestamps (tests fix it), or C{None}.
        """
        self.out = out
        self.serverName = serverName
        self.now = now
        self.connection = None
        self.conversation = None
        self.users = set()
        self.groups = set()
        self.connectedNow = False
        # The server closes the connection after a logout: expected, and
        # followed by a quiet reconnect (logged out).
        self.loggingOut = False
        self.changed = lambda: None
        self.quit = lambda: None
        self._asking = None
        self.commands = Commands(self)
        self.menu = Menu(self)
        self.activity = Activity(self)

    def attach(self, connection):
        """
        Use C{connection} (a L{ChatConnection} whose listener is this
        console).
        """
        self.connection = connection

    @property
    def user(self):
        """
        The logged-in user, or C{None}.
        """
        return self.connection.user if self.connection is not None else None

    @property
    def signedIn(self):
        """
        Whether a login succeeded and is still meant (possibly waiting for a
        reconnect).
        """
        return self.connection is not None and self.connection.credentials is not None

    # The prompt.

    @property
    def prompt(self):
        """
        The text before the cursor.
        """
        if self._asking is not None:
            return self._asking[0]
        where = self.conversation.label if self.conversation is not None else "chatroom"
        if not self.connectedNow:
            return "(offline) %s> " % (where,)
        return "%s> " % (where,)

    @property
    def question(self):
        """
        The prompt of the question being asked, or C{None}.
        """
        return self._asking[0] if self._asking is not None else None

    @property
    def password(self):
        """
        Whether the line being typed is a password (not to be shown).
        """
        return self._asking is not None and self._asking[1]

    @property
    def completing(self):
        """
        What the current question's answer is: C{"user"}, C{"group"},
        C{"conversation"} or C{None}.
        """
        return self._asking[2] if self._asking is not None else None

    def ask(self, prompt, password=False, complete=None):
        """
        Ask a question; the next line typed is the answer.

        @return: a Deferred firing with the line; cancelled (by Ctrl-C, see
            L{interrupt}) it fails with L{CancelledError}.
        """
        if self._asking is not None:
            self._asking[3].cancel()

        def cancel(d):
            if self._asking is not None and self._asking[3] is d:
                self._asking = None
                self.changed()

        d = Deferred(cancel)
        self._asking = (prompt, password, complete, d)
        self.changed()
        return d

    # Lines typed.

    def lineReceived(self, line):
        """
        Handle one line the user typed.

        @return: a Deferred that fires when the line's work is done (for
            tests; the terminal does not wait for it).
        """
        if self._asking is not None:
            d = self._asking[3]
            self._asking = None
            self.changed()
            d.callback(line)
            return _done()
        stripped = line.strip()
        if not stripped:
            return _done()
        if stripped.startswith("/"):
            work = self.commands.run(stripped)
        elif self.conversation is None:
            work = self.menu.choose(stripped)
        else:
            work = self.say(self.conversation, line)
        return self.guard(work)

    def interrupt(self):
        """
        Ctrl-C: drop the question being asked, if any.
        """
        if self._asking is not None:
            self._asking[3].cancel()
            return True
        return False

    def guard(self, work):
        """
        Report the failure of a command's work instead of losing it.
        """
        if isinstance(work, Deferred):
            d = work
        elif inspect.iscoroutine(work):
            d = ensureDeferred(work)
        else:
            d = succeed(work)
        return d.addErrback(self.reportFailure)

    def reportFailure(self, failure):
        """
        Tell the user why something failed, in words.
        """
        if failure.check(CancelledError):
            self.out("(cancelled)")
        elif failure.check(NotConnected):
            self.out("! not connected to %s (reconnecting in the background)" % (self.serverName,))
        elif failure.check(ChatError):
            self.out("! %s (%s)" % (display.clean(failure.value.message), failure.value.code))
        elif failure.check(ConnectionClosed):
            self.out("! the connection to %s was lost; try again" % (self.serverName,))
        else:
            self.log.failure("command failed", failure)
            self.out("! internal error: %s" % (failure.getErrorMessage(),))
        return None

    # Messages.

    def say(self, conversation, text):
        """
        Send C{text} to C{conversation}: at once, or once connected and
        logged in again.
        """
        if not self.signedIn:
            self.out("! log in first (/login, or 1 in the menu)")
            return _done()
        item = self.connection.send(conversation, text)
        queued = not self.connection.outbox.online
        if queued:
            self.out(
                "(not connected: the message to %s will be sent when the connection is back)"
                % (conversation.label,)
            )

        def stored(reply):
            self.activity.sent(conversation, reply.get("msg_id"))
            if queued or item.attempts > 1:
                self.out("(sent to %s: %s)" % (conversation.label, display.clean(_short(text))))
            if reply.get("status") == "stored" and conversation.peer is not None:
                self.out("(%s is offline; they will see it when they log in)" % (display.clean(conversation.peer),))

        def failed(failure):
            self.out("! message to %s not sent:" % (conversation.label,))
            self.reportFailure(failure)

        item.deferred.addCallbacks(stored, failed)
        return _done()

    # Listener of the connection.

    def connected(self, again):
        """
        A connection is up.
        """
        self.connectedNow = True
        if again and not self.loggingOut:
            self.out("* reconnected to %s" % (self.serverName,))
        self.loggingOut = False
        self.changed()

    def disconnected(self, reason, user):
        """
        The connection is gone; it will be retried.
        """
        self.connectedNow = False
        if not self.loggingOut:
            self.out("* connection to %s lost; reconnecting..." % (self.serverName,))
            if self.signedIn:
                self.out("  (messages you type now are sent once the connection is back)")
        self.changed()

    def retrying(self, attempt, delay):
        """
        A connection attempt failed (or a connection ended); the next one
        comes in C{delay} seconds.
        """
        # The first retry after a lost connection was announced already.
        if attempt > 1 or not self.connection.everConnected:
            self.out("* cannot reach %s; retrying in %.0f s" % (self.serverName, max(delay, 1)))

    def loggedIn(self, reply, again):
        """
        A login succeeded (C{again}: automatically, after a reconnect).
        """
        user = reply.get("user")
        if user:
            self.users.add(user)
        if again:
            self.out("* logged in again as %s" % (display.clean(user),))
            waiting = len(self.connection.outbox.queue)
            if waiting:
                self.out("* sending %d message%s typed while disconnected" % (waiting, "" if waiting == 1 else "s"))
        else:
            online = reply.get("online")
            self.out(
                "* logged in as %s%s"
                % (display.clean(user), "" if online is None else " (%s online)" % (online,))
            )
            self.groups.add("lobby")
            if self.conversation is None:
                self.menu.show()
        self.learnNames()
        self.changed()

    def learnNames(self):
        """
        Fetch who is online and the user's groups, quietly, so that Tab
        can complete their names.
        """

        def users(reply):
            entries = [e for e in reply.get("users", []) if isinstance(e, dict)]
            self.users.update(e["user"] for e in entries if isinstance(e.get("user"), str))

        def groups(reply):
            self.groups.update(g for g in reply.get("groups", []) if isinstance(g, str))

        for d in (
            self.connection.request("users", limit=1000).addCallback(users),
            self.connection.request("group.list").addCallback(groups),
        ):
            d.addErrback(lambda f: self.log.debug("names not fetched: {f}", f=f))

    def loginLost(self, error):
        """
        Logging in again after a reconnect was refused.
        """
        self.out("! could not log in again: %s; please /login" % (display.clean(error.message),))
        self.changed()

    def eventReceived(self, event):
        """
        A presence, group, typing, read or retract event.
        """
        kind = event.get("type")
        if kind == "presence":
            user = event.get("user")
            if isinstance(user, str):
                self.users.add(user)
            self.out(display.presence(event, self.now))
        elif kind == "group":
            group, user = event.get("group"), event.get("user")
            if isinstance(user, str):
                self.users.add(user)
            if isinstance(group, str):
                self._groupChanged(group, user, event.get("event"))
            self.out(display.groupChange(event, self.now))
        elif kind == "bye":
            self.out(byeLine(event))
        elif not self.activity.received(event):
            self.log.info("ignored event {event!r}", event=event)

    def _groupChanged(self, group, user, kind):
        # Follow my own groups; a group I am out of is no longer where
        # plain lines go.
        if kind in ("joined", "added") and user == self.user:
            self.groups.add(group)
        elif kind == "deleted" or (kind in ("left", "kicked", "banned") and user == self.user):
            self.groups.discard(group)
            if kind != "left" and self.conversation == Conversation(group=group):
                self.conversation = None
                self.changed()

    def showMessage(self, conversation, event):
        """
        A live message.
        """
        self._learn(conversation, event)
        self.out(display.message(conversation, event, self.user, self.now))
        self.activity.shown(conversation, event)

    def showMissed(self, batches):
        """
        Messages missed while away, grouped by conversation.
        """
        for conversation, events in batches:
            for event in events:
                self._learn(conversation, event)
        for line in display.missed(batches, self.user, self.now):
            self.out(line)

    def _learn(self, conversation, event):
        sender = event.get("from")
        if isinstance(sender, str):
            self.users.add(sender)
        if conversation.group is not None:
            self.groups.add(conversation.group)
        elif conversation.peer is not None:
            self.users.add(conversation.peer)


def _short(text, limit=40):
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _done():
    return succeed(None)
