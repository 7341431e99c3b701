# -*- test-case-name: tests.client.test_inbox -*-
"""
A conversation: a pair of users or a group, as the client names it.

Users write a group as C{#name}; user and group names cannot hold C{#}
(L{chatroom.messages.name}), so the prefix is never ambiguous.
"""

import attr

from chatroom.messages import name as checkName


@attr.s(frozen=True, slots=True)
class Conversation:
    """
    Either C{peer} (the other user of a direct conversation) or C{group}.
    """

    peer = attr.ib(default=None)
    group = attr.ib(default=None)

    @classmethod
    def parse(cls, text):
        """
        C{"#lobby"} is a group, anything else a user.

        @raise chatroom.errors.BadRequest: for a name the server would
            refuse anyway.
        """
        if text.startswith("#"):
            return cls(group=checkName("group", text[1:]))
        return cls(peer=checkName("user", text))

    @classmethod
    def ofMessage(cls, event, me):
        """
        The conversation a C{message} event belongs to, seen by user C{me}.
        """
        group = event.get("group")
        if group is not None:
            return cls(group=group)
        sender = event.get("from")
        # A direct message I sent from another device belongs with its
        # recipient; one sent to me belongs with its sender.
        if sender == me and event.get("to") is not None:
            return cls(peer=event["to"])
        return cls(peer=sender)

    @property
    def label(self):
        """
        How the conversation is written: C{alice} or C{#lobby}.
        """
        return self.peer if self.group is None else "#" + self.group

    def fields(self):
        """
        The request fields naming this conversation (C{history}, C{ack}).
        """
        return {"with": self.peer} if self.group is None else {"group": self.group}

    def __str__(self):
        return self.label
