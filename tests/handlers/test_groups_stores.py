# -*- test-case-name: tests.handlers.test_groups_stores -*-
"""
Running groups on Redis against the memory store: the same random requests
(create, join, leave, add, kick, ban, unban, roles, settings, messages,
delete) from four users on both stores, the same answer to each, and after
every step the same groups, members and roles as each user sees them; at
the end the same history of every group for every member.  The Redis
store's rules are its Lua scripts (lua/_group.lua), the memory store's
are in Python (store/memgroups.py).
"""

import random

import pytest
import pytest_twisted

from tests.support.bothstores import Side, bothStores, stable

USERS = ("张三", "bob", "李四", "dora")
GROUPS = ("读书会", "team")


class GroupSide(Side):
    """
    One store's server, its users' connections, and what they see of the
    groups.
    """

    async def ask(self, asUser, **fields):
        """
        The reply to a request, without what may differ between stores.
        """
        return stable(await self.request(asUser, **fields))

    async def view(self, user):
        seen = [await self.ask(user, type="group.list")]
        for group in GROUPS:
            seen.append(await self.ask(user, type="group.info", group=group))
            seen.append(await self.ask(user, type="group.members", group=group))
        return seen

    async def history(self, user, group):
        reply = await self.ask(user, type="history", group=group, limit=200)
        if "error" in reply:
            return reply["error"]
        return [(m["from"], m.get("text"), m.get("retracted", False)) for m in reply["messages"]]


def _request(rng):
    actor, target = rng.sample(USERS, 2)
    group = rng.choice(GROUPS)
    kind = rng.choices(
        ["group.create", "group.join", "group.leave", "group.add", "group.kick", "group.ban", "group.unban",
         "group.role", "group.set", "group.send", "group.delete"],
        weights=[6, 10, 5, 8, 5, 4, 3, 6, 5, 12, 1])[0]
    fields = {"type": kind, "group": group}
    if kind in ("group.add", "group.kick", "group.ban", "group.unban", "group.role"):
        fields["user"] = target
    if kind == "group.role":
        fields["role"] = rng.choice(["owner", "admin", "member"])
    if kind == "group.set":
        fields.update(rng.choice([{"visibility": "private"}, {"visibility": "public"},
                                  {"history": "joined"}, {"history": "shared"}, {"title": "标题 📚"}]))
    if kind == "group.send":
        fields["text"] = "%s 说 %d 🍜" % (actor, rng.randrange(1000))
    return actor, fields


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
@pytest_twisted.ensureDeferred
async def test_the_same_groups_on_both_stores(request, seed):
    async with bothStores(request, GroupSide, USERS) as sides:
        rng = random.Random(seed)
        for number in range(150):
            actor, fields = _request(rng)
            replies = [await side.ask(actor, **fields) for side in sides]
            assert replies[0] == replies[1], (number, actor, fields)
            for user in USERS:
                views = [await side.view(user) for side in sides]
                assert views[0] == views[1], (number, actor, fields, user)
        for user in USERS:
            for group in GROUPS:
                histories = [await side.history(user, group) for side in sides]
                assert histories[0] == histories[1], (user, group)
