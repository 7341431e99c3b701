# -*- test-case-name: tests.test_backlog -*-
"""
Pushing a user's missed messages when it logs in.
"""

import heapq

from twisted.internet import defer, task
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from zope.interface import implementer

from chatroom.errors import Unavailable
from chatroom.events import entryEvent
from chatroom.messages import msgIdKey
from chatroom.protocol import encode


class Backlog:
    """
    Pushes each connection's missed messages when it logs in.
    """

    log = Logger()

    def __init__(self, messages, delivery, clock):
        """
        @param messages: the L{IMessageStore}.
        @param delivery: the L{Delivery} that knows what a connection got
            live meanwhile.
        """
        self.messages = messages
        self.delivery = delivery
        self.clock = clock

    def push(self, session):
        """
        Push C{session}'s missed messages, in the background.
        """
        d = defer.ensureDeferred(MissedMessages(self.messages, self.delivery, self.clock, session).run())
        d.addErrback(lambda f: self.log.failure("Failed pushing missed messages", f))
        return d


@implementer(IPushProducer)
class MissedMessages:
    """
    Pushes, oldest first and marked C{"offline": true}, every message from
    others after the user's read positions, to one connection that just
    logged in.

    Messages are read from Redis in batches and written as the transport
    accepts them: registered as the transport's producer, this waits while
    the transport's buffer is full, so 100,000 pending messages never become
    one giant buffer, and it yields to the reactor between batches so other
    users are served meanwhile.
    """

    log = Logger()

    #: Messages read from Redis per request, and written between two turns
    #: of the reactor.
    batch = 500

    def __init__(self, messages, delivery, clock, session):
        self.messages = messages
        self.delivery = delivery
        self.clock = clock
        self.session = session
        self.user = session.user
        self.pushed = 0
        self._paused = None
        self._stopped = False

    # IPushProducer

    def pauseProducing(self):
        if self._paused is None:
            self._paused = defer.Deferred()

    def resumeProducing(self):
        paused, self._paused = self._paused, None
        if paused is not None:
            paused.callback(None)

    def stopProducing(self):
        self._stopped = True
        self.resumeProducing()

    # Pushing.

    def _active(self):
        return not self._stopped and self.session.connected and self.session.user == self.user

    async def run(self):
        """
        Push everything missed; fires when done or the connection is gone.
        """
        session = self.session
        transport = session.protocol.transport
        previous = getattr(transport, "producer", None)
        if isinstance(previous, MissedMessages):
            # The connection logged in again (as another user) while the
            # previous push was still running: stop it and take over its
            # place as the producer, or this push would go unthrottled.
            previous.stopProducing()
            if transport.producer is previous:
                transport.unregisterProducer()
        # Started by the login, before the session could get live messages.
        seen = self.delivery.catchUp(session)
        registered = False
        try:
            if getattr(transport, "producer", None) is None:
                transport.registerProducer(self, True)
                registered = True
            await self._push()
        except Unavailable:
            # Redis went away mid-push: what was not pushed stays pending
            # (only acks move read positions) and comes at the next login.
            self.log.warn("Redis unavailable while pushing missed messages to {user}; {pushed} pushed, "
                          "the rest stays pending", user=self.user, pushed=self.pushed)
        finally:
            self.delivery.caughtUp(session, seen)
            if registered and session.connected and transport.producer is self:
                transport.unregisterProducer()

    async def _push(self):
        messages = self.messages
        unread = await messages.unread(self.user)
        if not unread:
            return
        perConversation = max(50, self.batch // len(unread))
        conversations = [conversation for conversation, _ in unread]
        positions = [position for _, position in unread]
        identities = [conversation.identity(self.user) for conversation in conversations]
        # The first batch of every conversation, requested all at once.
        batches = await defer.gatherResults(
            [defer.ensureDeferred(messages.after(self.user, c, p, perConversation))
             for c, p in zip(conversations, positions)],
            consumeErrors=True,
        )
        heap = []
        buffers = []
        for index, entries in enumerate(batches):
            buffers.append(_Buffer(entries, len(entries) < perConversation))
            if entries:
                heap.append((msgIdKey(entries[0][0]), index))
        heapq.heapify(heap)
        written = 0
        while heap and self._active():
            _, index = heapq.heappop(heap)
            buffer = buffers[index]
            msgId, fields = buffer.entries[buffer.next]
            buffer.next += 1
            self._write(conversations[index], identities[index], msgId, fields)
            written += 1
            if buffer.next == len(buffer.entries):
                if buffer.exhausted:
                    continue
                entries = await messages.after(self.user, conversations[index], msgId, perConversation)
                buffers[index] = buffer = _Buffer(entries, len(entries) < perConversation)
                if not entries:
                    continue
            heapq.heappush(heap, (msgIdKey(buffer.entries[buffer.next][0]), index))
            # Stop at once when the transport says its buffer is full, not
            # only every batch: a batch of long messages would otherwise
            # pile up megabytes, over the connection's buffer bound.
            if written >= self.batch or self._paused is not None:
                written = 0
                await self._breathe()

    async def _breathe(self):
        # Let the reactor serve everyone else, and wait for the transport if
        # its buffer is full.
        await task.deferLater(self.clock, 0, lambda: None)
        while self._paused is not None and not self._stopped:
            await self._paused

    def _write(self, conversation, identity, msgId, fields):
        sender = fields.get("f")
        if sender == self.user:
            return
        if self.delivery.seenLive(self.session, identity, msgId):
            return
        event = entryEvent(self.user, conversation, msgId, fields, offline=True)
        self.session.sendPayload(encode(event))
        self.pushed += 1


class _Buffer:
    """
    The messages read from one conversation and not yet pushed.
    """

    __slots__ = ("entries", "next", "exhausted")

    def __init__(self, entries, exhausted):
        self.entries = entries
        self.next = 0
        self.exhausted = exhausted
