# -*- test-case-name: tests.test_delivery -*-
"""
Who gets this message: the one place that takes a stored message, or an
event, to every connection that should have it.
"""

from chatroom.blocks import LocalBlocks
from chatroom.events import messageEvent
from chatroom.messages import directIdentity, groupIdentity, timestampOf
from chatroom.metrics import NO_METRICS
from chatroom.protocol import encode
from chatroom.repeats import Repeats


class Delivery:
    """
    Takes a stored message to the connections of this node that should have
    it (through the L{PresenceRegistry}) and to the other nodes (through the
    L{Relay}), encoding it once for all of them.

    While a connection's missed messages are being pushed after its login
    (L{chatroom.backlog.MissedMessages}), this remembers what reached it
    live, so that the push does not show it twice.
    """

    def __init__(self, registry, relay, metrics=NO_METRICS, clock=None):
        """
        @param metrics: the L{chatroom.metrics.Metrics} told what is
            stored and how many connections each message reached.
        @param clock: what tells the time (the reactor by default), for
            the C{typing} events written lately.
        """
        if clock is None:
            from twisted.internet import reactor as clock
        self.registry = registry
        self.relay = relay
        # The typing events written here lately: a user typing on two
        # devices connected to two nodes reaches each connection once per
        # two seconds, as it does from one node.
        self._typing = Repeats(clock)
        self._directs = metrics.delivery("direct")
        self._groups = metrics.delivery("group")
        #: Whom the users connected here blocked (see L{aboutUser}).
        self.blocks = LocalBlocks()
        # Session -> set of (conversation identity, msg_id) it got live,
        # for the sessions whose missed messages are being pushed.
        self._catchingUp = {}

    # Stored messages, from a handler.

    def direct(self, sender, to, text, msgId, nodes, exclude=None):
        """
        Deliver a direct message just stored: to the recipient's
        connections, the sender's other ones, and the other C{nodes} where
        either has connections.
        """
        payload = encode(messageEvent(msgId, sender, text, timestampOf(msgId), to=to))
        directs = self._directs
        directs.stored()
        directs.delivered(self._toUsers((to,) if to == sender else (to, sender), directIdentity(sender, to), msgId,
                                        payload, exclude))
        self.relay.direct(nodes, to, sender, msgId, payload)

    def group(self, group, sender, text, msgId, exclude=None):
        """
        Deliver a group message just stored: to the members' connections
        here, and once to every other node with members online.
        """
        payload = encode(messageEvent(msgId, sender, text, timestampOf(msgId), group=group))
        groups = self._groups
        groups.stored()
        groups.delivered(self._toUsers(self.registry.members(group), groupIdentity(group), msgId, payload, exclude))
        self.relay.group(group, msgId, payload)

    def groupEvent(self, group, payload, exclude=None):
        """
        Deliver a C{group} event (encoded) to the group's members online
        here and on the other nodes.
        """
        self.toUsers(self.registry.members(group), payload, exclude)
        self.relay.groupEvent(group, payload)

    def userEvent(self, users, nodes, payload, exclude=None, about=None):
        """
        Deliver an event (encoded) to the connections of C{users} here but
        C{exclude}, and to the other C{nodes} where they have connections.
        C{about}: the user a C{typing} or C{read} event is about (see
        L{signal}).
        """
        self._userEvent(users, about, payload, exclude)
        self.relay.userEvent(nodes, users, about, payload)

    def typing(self, users, nodes, about, payload):
        """
        Deliver a C{typing} event of C{about} to C{users}, here and on the
        other C{nodes} where they have connections; a repeat written here
        within two seconds is dropped.
        """
        if not self._typing.seen(payload):
            self.signal(about, users, payload)
        self.relay.typing(nodes, users, about, payload)

    def groupSignal(self, group, about, payload):
        """
        Deliver a C{typing} event of C{about} to the other members of
        C{group} online, here and on the other nodes; a repeat written
        here within two seconds is dropped.
        """
        if not self._typing.seen(payload):
            self._groupSignal(group, about, payload)
        self.relay.groupSignal(group, about, payload)

    def signal(self, about, users, payload, exclude=None):
        """
        Write a C{typing} or C{read} event about user C{about} to this
        node's connections of C{users} but C{exclude}.  Every such event,
        made here or relayed from another node, passes here, and on to
        L{aboutUser}: a blocker hears nothing of the blocked user.
        """
        self.aboutUser(about, users, payload, exclude)

    def _userEvent(self, users, about, payload, exclude=None):
        if about is None:
            self.toUsers(users, payload, exclude)
        else:
            self.signal(about, users, payload, exclude)

    def _groupSignal(self, group, about, payload):
        self.signal(about, [user for user in self.registry.members(group) if user != about], payload)

    # The same, arriving from another node.

    def relayedUserEvent(self, users, about, payload):
        """
        An event for C{users} from another node.
        """
        self._userEvent(users, about, payload)

    def relayedTyping(self, users, about, payload):
        """
        A C{typing} event of C{about} for C{users} from another node.
        """
        if not self._typing.seen(payload):
            self.signal(about, users, payload)

    def relayedGroupSignal(self, group, about, payload):
        """
        A C{typing} event of C{about} in C{group} from another node.
        """
        if not self._typing.seen(payload):
            self._groupSignal(group, about, payload)

    def relayedDirect(self, to, sender, msgId, payload):
        """
        A direct message stored by another node.
        """
        self._directs.delivered(self._toUsers((to,) if to == sender else (to, sender), directIdentity(sender, to), msgId, payload))

    def relayedGroup(self, group, msgId, payload):
        """
        A group message stored by another node.
        """
        self._groups.delivered(self._toUsers(self.registry.members(group), groupIdentity(group), msgId, payload))

    def relayedGroupEvent(self, group, payload, skip=None):
        """
        A C{group} event from another node (not for C{skip}, the user it
        is about, who gets it with its membership change).
        """
        members = self.registry.members(group)
        self.toUsers([u for u in members if u != skip] if skip in members else members, payload)

    # Writing to connections.

    def toUsers(self, users, payload, exclude=None):
        """
        Write C{payload} (encoded once) to every connection of C{users} on
        this node but C{exclude}.
        """
        sessions = self.registry.sessions
        for user in users:
            for session in sessions(user):
                if session is not exclude:
                    session.sendPayload(payload)

    def aboutUser(self, subject, users, payload, exclude=None):
        """
        Write an event about C{subject} (C{presence}, C{typing}, C{read}:
        encoded once) to the connections here of C{users} but C{exclude},
        skipping the users who blocked C{subject}.  Every event about a
        user goes through here, live or relayed from another node.
        """
        blocks = self.blocks
        if blocks:
            users = [user for user in users if not blocks.blocks(user, subject)]
        self.toUsers(users, payload, exclude)

    def _toUsers(self, users, identity, msgId, payload, exclude=None):
        # How many connections it was written to.
        sessions = self.registry.sessions
        catchingUp = self._catchingUp
        count = 0
        for user in users:
            for session in sessions(user):
                if session is not exclude:
                    if catchingUp:
                        seen = catchingUp.get(session)
                        if seen is not None:
                            seen.add((identity, msgId))
                    session.sendPayload(payload)
                    count += 1
        return count

    # Missed messages.

    def catchUp(self, session):
        """
        Remember what reaches C{session} live from now on (called at login,
        before it can receive anything) until L{caughtUp}: the set of
        C{(conversation identity, msg_id)} it fills, the one already
        started if there is one.
        """
        seen = self._catchingUp.get(session)
        if seen is None:
            seen = self._catchingUp[session] = set()
        return seen

    def caughtUp(self, session, seen):
        """
        The missed messages of C{session} are pushed: forget C{seen}
        (unless a later login of the connection replaced it).
        """
        if self._catchingUp.get(session) is seen:
            del self._catchingUp[session]

    def isCatchingUp(self, session):
        """
        Whether C{session}'s missed messages are being pushed.
        """
        return session in self._catchingUp

    def forget(self, session):
        """
        C{session} logged out: whatever it was catching up on is moot.
        """
        self._catchingUp.pop(session, None)

    def seenLive(self, session, identity, msgId):
        """
        Whether C{session} got that message live while catching up.
        """
        seen = self._catchingUp.get(session)
        return seen is not None and (identity, msgId) in seen
