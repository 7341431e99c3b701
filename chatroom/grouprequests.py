# -*- test-case-name: tests.handlers.test_group_rights -*-
"""
The requests of protocol 1.1 that run a group (settings, members, roles,
bans, deletion, the directory) as attrs classes, beside those of 1.0 in
L{chatroom.messages}, and the C{group} events they send.
"""

from chatroom.errors import BadRequest
from chatroom.messages import (
    DIRECTORY_LIMIT, HISTORY_RULES, ROLES, VISIBILITIES, _limit, cursor, field, name, oneOf, optional, prefix,
    request, title,
)


@request("group.info")
class GroupInfo:
    group = field(name)


@request("group.set")
class GroupSet:
    group = field(name)
    title = field(optional(title), optional=True)
    visibility = field(optional(oneOf(VISIBILITIES)), optional=True)
    history = field(optional(oneOf(HISTORY_RULES)), optional=True)

    def validate(self):
        if self.title is None and self.visibility is None and self.history is None:
            raise BadRequest("give at least one of the fields 'title', 'visibility' and 'history'")


@request("group.add")
class GroupAdd:
    group = field(name)
    user = field(name)


@request("group.kick")
class GroupKick:
    group = field(name)
    user = field(name)


@request("group.ban")
class GroupBan:
    group = field(name)
    user = field(name)


@request("group.unban")
class GroupUnban:
    group = field(name)
    user = field(name)


@request("group.role")
class GroupRole:
    group = field(name)
    user = field(name)
    role = field(oneOf(ROLES))


@request("group.delete")
class GroupDelete:
    group = field(name)


@request("group.directory")
class GroupDirectory:
    prefix = field(optional(prefix), optional=True)
    limit = field(_limit(*DIRECTORY_LIMIT), optional=True)
    cursor = field(optional(cursor), optional=True)


def groupChange(group, user, event, by, **fields):
    """
    A C{group} event of 1.1 about C{user} (C{"added"}, C{"kicked"},
    C{"banned"}, C{"role"} with C{role}, C{"updated"}, C{"deleted"}),
    made by C{by}.
    """
    change = {"type": "group", "group": group, "user": user, "event": event, "by": by}
    change.update(fields)
    return change
