"""
L{chatroom.store.pubsub.ShardedPubSub}'s rules for publishing again, on a
fake cluster link and a fake clock: a message that reached fewer
subscribers than its channel's previous one is published again only while
the slot map has just changed, until it reaches as many, a bounded number
of times; receivers drop the copies.  (The real thing, slots moving under
a busy publisher: L{tests.store.test_cluster_mode}.)
"""

from twisted.internet import defer
from twisted.internet.task import Clock

from chatroom.store.pubsub import ShardedPubSub

CHANNEL = "{n:节点}:events"


class FakeClusterLink:
    """
    What L{ShardedPubSub} uses of a L{ClusterLink}: C{SPUBLISH} answers
    with the next of C{counts} (the last one again when they run out).
    """

    password = None

    def __init__(self, counts):
        self.reactor = Clock()
        self.counts = list(counts)
        self.published = []
        self._slotsChanged = []

    def onSlotsChanged(self, f):
        self._slotsChanged.append(f)

    def slotsChanged(self):
        for f in self._slotsChanged:
            f()

    def nodeForSlot(self, slot):
        return None

    def execute(self, *args):
        self.published.append(args)
        return defer.succeed(self.counts.pop(0) if len(self.counts) > 1 else self.counts[0])


def started(counts):
    link = FakeClusterLink(counts)
    pubsub = ShardedPubSub(link)
    pubsub.startService()
    return link, pubsub


def test_messages_carry_an_id_and_copies_are_dropped():
    """
    What is published carries this publisher's id for it; a receiver hands
    on the message without it, once.
    """
    link, publisher = started([1])
    publisher.publish(CHANNEL, "你好 👋".encode("utf-8"))
    publisher.publish(CHANNEL, "你好 👋".encode("utf-8"))
    first, second = (data for _, _, data in link.published)
    assert first != second and first.endswith(" 你好 👋".encode("utf-8"))

    received = []
    _, receiver = started([1])
    receiver.listen(received.append)
    for data in (first, first.decode("utf-8"), second, first):
        receiver.subscriber.messageReceived(CHANNEL, data)
    assert received == ["你好 👋".encode("utf-8")] * 2
    assert receiver.duplicates == 2


def test_fewer_subscribers_while_settled_is_not_published_again():
    """
    A node that stopped listening makes the count fall; with the slot map
    unchanged that is no reason to publish again.
    """
    link, pubsub = started([2, 1, 1])
    for _ in range(3):
        pubsub.publish(CHANNEL, b"m")
    link.reactor.advance(10)
    assert len(link.published) == 3 and pubsub.republished == 0


def test_fewer_subscribers_after_a_move_is_published_again_until_heard():
    """
    Right after the slot map changed, a message that reached fewer
    subscribers is published again, the same bytes, until it reaches as
    many as before; then the channel is back to normal.
    """
    link, pubsub = started([2, 1, 1, 2, 2])
    pubsub.publish(CHANNEL, b"before")
    link.slotsChanged()
    pubsub.publish(CHANNEL, b"during the move")
    link.reactor.advance(0.05)
    link.reactor.advance(0.2)
    assert [args[2] for args in link.published[1:]] == [link.published[1][2]] * 3
    link.reactor.advance(10)
    assert pubsub.republished == 2
    pubsub.publish(CHANNEL, b"after")
    link.reactor.advance(10)
    assert len(link.published) == 5


def test_published_again_a_bounded_number_of_times():
    """
    A subscriber that does not come back (its node died) costs a few
    publications of one message, then the lower count is taken as the
    channel's.
    """
    link, pubsub = started([1, 0])
    pubsub.publish(CHANNEL, b"before")
    link.slotsChanged()
    pubsub.publish(CHANNEL, b"into the void")
    link.reactor.pump([0.05, 0.2, 0.5, 1, 2, 5])
    assert pubsub.republished == len(ShardedPubSub.republishDelays)
    pubsub.publish(CHANNEL, b"later")
    link.reactor.advance(10)
    assert len(link.published) == 2 + len(ShardedPubSub.republishDelays) + 1


def test_stopping_cancels_what_was_to_be_published_again():
    """
    A stopped publisher leaves no timer behind.
    """
    link, pubsub = started([1, 0])
    pubsub.publish(CHANNEL, b"before")
    link.slotsChanged()
    pubsub.publish(CHANNEL, b"pending")
    pubsub.stopService()
    link.reactor.advance(10)
    assert len(link.published) == 2 and not link.reactor.getDelayedCalls()
