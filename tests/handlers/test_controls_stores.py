# -*- test-case-name: tests.handlers.test_controls_stores -*-
"""
Personal controls on Redis against the memory store: the same random
requests (block, unblock, blocks, profile.set, user.info, sends and acks
under blocks, password.change with right and wrong passwords, read
receipts on and off) from four users on both stores, the same answer to
each and the same events pushed to each connection.  (Typing is left out:
its 2 seconds pass on the memory store's fake clock, not on Redis's.)
"""

import random

import pytest
import pytest_twisted

from tests.support.bothstores import Side, bothStores, stable

USERS = ("张三", "bob", "李四", "dora")


class ControlSide(Side):
    """
    One store's server, its users' connections and their passwords.
    """

    def __init__(self, chat, users):
        super().__init__(chat, users)
        self.passwords = dict.fromkeys(users, "secret")
        # (user, peer) -> the msg_id of the newest message the user got
        # from the peer.
        self.newest = {}

    async def ask(self, asUser, **fields):
        """
        The reply to a request, without what may differ between stores.
        """
        reply = await self.request(asUser, **fields)
        if fields["type"] == "password.change" and "error" not in reply:
            self.passwords[asUser] = fields["new"]
        return stable(reply)

    async def events(self):
        # Every connection's events so far (in order), then forgotten: a
        # round trip on each connection brings what was written before.
        for client in self.clients.values():
            await client.request("ping")
        found = {}
        for user, client in self.clients.items():
            for e in client.events:
                if e.get("type") == "message" and e.get("to") == user:
                    self.newest[(user, e["from"])] = e["msg_id"]
            found[user] = [stable(e) for e in client.events if e.get("type") != "presence"]
            client.events.clear()
        return found


def _request(rng, passwords):
    actor, target = rng.sample(USERS, 2)
    kind = rng.choices(
        ["block", "unblock", "blocks", "profile.set", "user.info", "send", "password.change",
         "settings.set", "ack"],
        weights=[6, 5, 3, 3, 5, 14, 2, 2, 6])[0]
    fields = {"type": kind}
    if kind in ("block", "unblock", "user.info"):
        fields["user"] = target
    elif kind == "profile.set":
        fields["name"] = rng.choice(["老张 🐼", "Bob the builder", "李四", "ドーラ"])
    elif kind == "send":
        fields.update(to=target, text="你好 %d 👋" % rng.randrange(100))
    elif kind == "password.change":
        right = rng.random() < 0.7
        fields.update(old=passwords[actor] if right else "wrong-one", new="新密码-%d" % rng.randrange(1000))
    elif kind == "settings.set":
        fields["read_receipts"] = rng.random() < 0.5
    return actor, target, fields


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest_twisted.ensureDeferred
async def test_the_same_personal_controls_on_both_stores(request, seed):
    async with bothStores(request, ControlSide, USERS) as sides:
        rng = random.Random(seed)
        for number in range(150):
            actor, target, fields = _request(rng, sides[0].passwords)
            if fields["type"] == "ack":
                if (actor, target) not in sides[0].newest:
                    continue
                replies = [await side.ask(actor, upto=side.newest[(actor, target)], **{"with": target}, **fields)
                           for side in sides]
            else:
                replies = [await side.ask(actor, **fields) for side in sides]
            assert replies[0] == replies[1], (number, actor, fields)
            events = [await side.events() for side in sides]
            assert events[0] == events[1], (number, actor, fields)
