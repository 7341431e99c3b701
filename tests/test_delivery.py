"""
L{Delivery}: who gets a stored message, encoded once, and the catch-up
notes that keep a connection from seeing a message twice.
"""

from chatroom.delivery import Delivery
from chatroom.messages import Conversation
from chatroom.registry import PresenceRegistry


class FakeSession:
    def __init__(self, user):
        self.user = user
        self.sent = []

    def sendPayload(self, payload):
        self.sent.append(payload)


class RecordingRelay:
    def __init__(self):
        self.calls = []

    def direct(self, *args):
        self.calls.append(("direct",) + args)

    def group(self, *args):
        self.calls.append(("group",) + args)

    def groupEvent(self, *args):
        self.calls.append(("groupEvent",) + args)


def connected(registry, user, groups=()):
    session = FakeSession(user)
    registry.add(session, {g: 10 for g in groups})
    return session


def makeDelivery():
    registry, relay = PresenceRegistry(), RecordingRelay()
    return registry, relay, Delivery(registry, relay)


def test_direct_reaches_recipient_and_senders_other_connections():
    registry, relay, delivery = makeDelivery()
    bob = connected(registry, "鲍勃")
    alice1, alice2 = connected(registry, "alice"), connected(registry, "alice")
    carol = connected(registry, "carol")
    delivery.direct("alice", "鲍勃", "你好 🙂", "1700000000000-0", ["n2"], exclude=alice1)
    assert alice1.sent == [] and carol.sent == []
    assert len(bob.sent) == 1 and alice2.sent == bob.sent
    # Encoded once: every connection got the same bytes object.
    assert alice2.sent[0] is bob.sent[0]
    assert "你好 🙂".encode("utf-8") in bob.sent[0]
    assert relay.calls == [("direct", ["n2"], "鲍勃", "alice", "1700000000000-0", bob.sent[0])]


def test_message_to_self_is_delivered_once_per_connection():
    registry, relay, delivery = makeDelivery()
    a1, a2 = connected(registry, "alice"), connected(registry, "alice")
    delivery.direct("alice", "alice", "note", "1-0", [], exclude=a1)
    assert a1.sent == [] and len(a2.sent) == 1


def test_group_reaches_local_members_and_the_groups_channel():
    registry, relay, delivery = makeDelivery()
    alice = connected(registry, "alice", ["项目组"])
    bob = connected(registry, "bob", ["项目组"])
    carol = connected(registry, "carol", ["other"])
    delivery.group("项目组", "alice", "hi", "5-1", exclude=alice)
    assert alice.sent == [] and carol.sent == [] and len(bob.sent) == 1
    assert relay.calls == [("group", "项目组", "5-1", bob.sent[0])]


def test_catching_up_notes_live_messages_until_caught_up():
    registry, relay, delivery = makeDelivery()
    bob = connected(registry, "bob", ["g"])
    seen = delivery.catchUp(bob)
    assert delivery.isCatchingUp(bob)
    delivery.direct("alice", "bob", "live", "7-0", [])
    delivery.relayedGroup("g", "8-0", b"{}")
    # Seen under the conversation's identity, whichever user looks at it.
    assert delivery.seenLive(bob, Conversation("u", "alice").identity("bob"), "7-0")
    assert delivery.seenLive(bob, Conversation("g", "g").identity("bob"), "8-0")
    assert not delivery.seenLive(bob, Conversation("u", "carol").identity("bob"), "7-0")
    delivery.caughtUp(bob, seen)
    assert not delivery.isCatchingUp(bob)
    delivery.direct("alice", "bob", "later", "9-0", [])
    assert not delivery.seenLive(bob, Conversation("u", "alice").identity("bob"), "9-0")


def test_a_later_catch_up_is_not_ended_by_an_earlier_one():
    registry, relay, delivery = makeDelivery()
    bob = connected(registry, "bob")
    first = delivery.catchUp(bob)
    delivery.forget(bob)
    second = delivery.catchUp(bob)
    delivery.caughtUp(bob, first)
    assert delivery.isCatchingUp(bob)
    delivery.caughtUp(bob, second)
    assert not delivery.isCatchingUp(bob)


def test_relayed_messages_reach_only_local_connections():
    registry, relay, delivery = makeDelivery()
    bob = connected(registry, "bob")
    alice = connected(registry, "alice")
    delivery.relayedDirect("bob", "alice", "3-0", b"payload")
    assert bob.sent == [b"payload"] and alice.sent == [b"payload"]
    assert relay.calls == []
