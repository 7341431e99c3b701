# -*- test-case-name: tests.client.test_activity -*-
"""
What others are doing around the user's conversations: who is typing,
what is unread here (and read on another device), read receipts and
retractions; and the C{typing} requests of the user's own typing.

What it has to say that does not belong in the scrollback (typing notes,
unread counts) is one status line, shown under the prompt by the terminal
and gone by itself when it no longer holds.
"""

from twisted.logger import Logger

from chatroom.client import display
from chatroom.client.conversation import Conversation

#: seconds a typing note stays unless another comes
TYPING_SHOWN = 5.0
#: seconds between two typing requests for one conversation (the server
#: drops repeats within 2 s)
TYPING_EVERY = 2.5


class Activity:
    """
    The console's view of typing, unread messages, receipts and
    retractions.
    """

    log = Logger()

    def __init__(self, console):
        self.console = console
        # (conversation, user) -> the delayed call that removes the note
        self._typing = {}
        # conversation -> msg_ids shown while it was not the current one
        self.unread = {}
        # conversation -> msg_id of the user's newest message there
        self.lastSent = {}
        self._typedAt = {}

    @property
    def _clock(self):
        return self.console.connection.clock

    def status(self):
        """
        The status line: who is typing where, and the unread counts; C{""}
        when there is nothing to say.
        """
        parts = []
        for conversation, user in self._typing:
            where = "" if conversation.group is None else " in " + display.clean(conversation.label)
            parts.append("%s is typing…%s" % (display.clean(user), where))
        counts = ["%s %d" % (display.clean(c.label), len(ids)) for c, ids in self.unread.items() if ids]
        if counts:
            parts.append("unread: " + ", ".join(counts))
        return " | ".join(parts)

    # Events.

    def received(self, event):
        """
        Handle a C{typing}, C{read} or C{retract} event; C{False} for
        another kind.
        """
        handler = {"typing": self._typingEvent, "read": self._read, "retract": self._retract}.get(event.get("type"))
        if handler is None:
            return False
        handler(event)
        return True

    def _typingEvent(self, event):
        sender = event.get("from")
        if not isinstance(sender, str) or sender == self.console.user:
            return
        conversation = Conversation(group=event["group"]) if event.get("group") else Conversation(peer=sender)
        key = (conversation, sender)
        previous = self._typing.pop(key, None)
        if previous is not None and previous.active():
            previous.cancel()
        self._typing[key] = self._clock.callLater(TYPING_SHOWN, self._typingOver, key)
        self.console.changed()

    def _typingOver(self, key):
        call = self._typing.pop(key, None)
        if call is not None and call.active():
            call.cancel()
        self.console.changed()

    def _read(self, event):
        by, upto = event.get("by"), event.get("upto")
        me = self.console.user
        if by == me:
            # Read on another device: what it read is no longer unread here.
            conversation = _conversationOf(event)
            ids = self.unread.get(conversation)
            if ids:
                del ids[: ids.index(upto) + 1 if upto in ids else len(ids)]
                self.console.changed()
        elif isinstance(by, str) and upto is not None and self.lastSent.get(Conversation(peer=by)) == upto:
            self.console.out(display.notice("%s has read your message" % (display.clean(by),), self.console.now))

    def _retract(self, event):
        conversation = _conversationOf(event)
        msgId = event.get("msg_id")
        ids = self.unread.get(conversation)
        if ids and msgId in ids:
            ids.remove(msgId)
            self.console.changed()
        self.console.out(display.notice("%s retracted a message in %s" % (
            display.clean(event.get("by", "?")), display.clean(conversation.label)), self.console.now))

    # The user's side.

    def shown(self, conversation, event):
        """
        A live message was shown.
        """
        sender = event.get("from")
        if sender == self.console.user:
            self.lastSent[conversation] = event.get("msg_id")
        else:
            self._typingOver((conversation, sender))
            if conversation != self.console.conversation:
                self.unread.setdefault(conversation, []).append(event.get("msg_id"))
                self.console.changed()

    def sent(self, conversation, msgId):
        """
        The user's message to C{conversation} was stored as C{msgId}.
        """
        self.lastSent[conversation] = msgId
        self._typedAt.pop(conversation, None)

    def entered(self, conversation):
        """
        C{conversation} became the current one: nothing there is unread.
        """
        if self.unread.pop(conversation, None):
            self.console.changed()

    def typed(self, text):
        """
        The line being typed is now C{text}: tell the current
        conversation's other party, at most every L{TYPING_EVERY} seconds.
        """
        console = self.console
        conversation = console.conversation
        if (conversation is None or not text.strip() or text.startswith("/") or console.question is not None
                or not console.signedIn or not console.connectedNow):
            return
        now = self._clock.seconds()
        last = self._typedAt.get(conversation)
        if last is not None and now - last < TYPING_EVERY:
            return
        self._typedAt[conversation] = now
        fields = {"group": conversation.group} if conversation.group is not None else {"to": conversation.peer}
        d = console.connection.request("typing", **fields)
        d.addErrback(lambda f: self.log.debug("typing not sent: {f}", f=f))


def _conversationOf(event):
    # The conversation a read or retract event names (with: the peer).
    group = event.get("group")
    return Conversation(group=group) if group is not None else Conversation(peer=event.get("with"))
