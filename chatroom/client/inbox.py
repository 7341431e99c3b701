# -*- test-case-name: tests.client.test_inbox -*-
"""
Incoming messages: drop repeats, gather missed ones, acknowledge what was
shown.

The server pushes missed messages (C{"offline": true}) after login, oldest
first, with no marker at the end of the burst; the inbox waits for a short
quiet spell before it shows them grouped by conversation.  A message is
acknowledged only after it was shown, so one that never reached the screen is
pushed again at the next login.
"""

from twisted.logger import Logger

from chatroom.client.conversation import Conversation

#: seconds without a further missed message before the batch is shown
QUIET = 0.3
#: seconds acknowledgements are gathered, so a busy conversation costs one
#: C{ack} request now and then rather than one per message
ACK_DELAY = 0.5


class Inbox:
    """
    @ivar me: the logged-in user, to tell which side of a direct
        conversation is the peer.
    @ivar lastMissed: the last batch of missed messages shown, as a list of
        C{(conversation, [events])}, for the menu's "read offline messages".
    """

    log = Logger()

    def __init__(self, clock, view, sendAck):
        """
        @param clock: an C{IReactorTime}.
        @param view: has C{showMessage(conversation, event)} and
            C{showMissed(batches)}.
        @param sendAck: C{sendAck(conversation, msgId)} returns a Deferred.
        """
        self.clock = clock
        self.view = view
        self.sendAck = sendAck
        self.me = None
        self.lastMissed = []
        self._seen = set()
        self._missed = {}
        self._missedTimer = None
        self._held = []
        self._acks = {}
        self._ackTimer = None

    def reset(self, me):
        """
        Start over for user C{me} (another user logged in).
        """
        self.me = me
        self._seen.clear()
        self._missed.clear()
        self._held = []
        self._acks.clear()
        self.lastMissed = []

    def received(self, event):
        """
        Handle one C{message} event.
        """
        msgId = event.get("msg_id")
        if not isinstance(msgId, str):
            self.log.warn("message event without a msg_id: {event!r}", event=event)
            return
        conversation = Conversation.ofMessage(event, self.me)
        key = (conversation, msgId)
        if key in self._seen:
            # Shown before (pushed again after a reconnect, or by a second
            # login): not shown twice, but acknowledged, or the server would
            # keep pushing it.
            self._ack(conversation, msgId)
            return
        self._seen.add(key)
        if event.get("offline"):
            self._missed.setdefault(conversation, []).append(event)
            if self._missedTimer is not None and self._missedTimer.active():
                self._missedTimer.reset(QUIET)
            else:
                self._missedTimer = self.clock.callLater(QUIET, self.flushMissed)
        elif self._missed:
            # Missed messages are older than any live one, and the server
            # may push live ones in the middle of the backlog: hold them
            # until the batch is shown.
            self._held.append((conversation, event))
        else:
            self._show(conversation, event)

    def _show(self, conversation, event):
        self.view.showMessage(conversation, event)
        self._ack(conversation, event["msg_id"])

    def sent(self, conversation, msgId):
        """
        Remember a message this connection sent, so an echo is not shown.
        """
        self._seen.add((conversation, msgId))

    def flushMissed(self):
        """
        Show the gathered missed messages now, grouped by conversation (in
        the order conversations first appeared), then acknowledge them.
        """
        if self._missedTimer is not None and self._missedTimer.active():
            self._missedTimer.cancel()
        self._missedTimer = None
        if self._missed:
            batches = list(self._missed.items())
            self._missed = {}
            self.view.showMissed(batches)
            self.lastMissed = batches
            for conversation, events in batches:
                # Events come oldest first: the last is the read position.
                self._ack(conversation, events[-1]["msg_id"])
        held, self._held = self._held, []
        for conversation, event in held:
            self._show(conversation, event)

    def _ack(self, conversation, msgId):
        self._acks[conversation] = msgId
        if self._ackTimer is None or not self._ackTimer.active():
            self._ackTimer = self.clock.callLater(ACK_DELAY, self.flushAcks)

    def flushAcks(self):
        """
        Send the gathered acknowledgements now.
        """
        if self._ackTimer is not None and self._ackTimer.active():
            self._ackTimer.cancel()
        self._ackTimer = None
        acks, self._acks = self._acks, {}
        for conversation, msgId in acks.items():
            d = self.sendAck(conversation, msgId)
            # A lost ack only means the message comes again at the next
            # login, where it is dropped as a repeat and acknowledged.
            d.addErrback(lambda f, c=conversation: self.log.debug("ack for {c} failed: {f}", c=c, f=f))

    def stop(self):
        """
        Cancel pending timers (the client is exiting).
        """
        for timer in (self._missedTimer, self._ackTimer):
            if timer is not None and timer.active():
                timer.cancel()
        self._missedTimer = self._ackTimer = None
