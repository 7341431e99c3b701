# -*- test-case-name: tests.handlers.test_conversations_stores -*-
"""
The conversation list on Redis against the memory store: the same random
conversations (messages, acks at random places, retractions, blocks,
replies) on both, and after every step the same list for every user; at
the end the same history and the same login push.  The
Redis store counts unread messages in Lua, from the stream's counters
where a user never wrote and by reading entries where it did; the memory
store counts them one by one in Python.
"""

import random

import pytest
import pytest_twisted

from tests.support.bothstores import Side, bothStores

USERS = ("张三", "bob", "李四")


class ConversationSide(Side):
    """
    One store's server, its users' connections, and the msg_ids of each
    conversation in the order they were sent (so that both sides can name
    "the third message of bob and 张三").
    """

    def __init__(self, chat, users=USERS, lobby=True):
        """
        @param lobby: whether the lobby is part of the test (not on a
            database other tests used).
        """
        super().__init__(chat, users)
        self.lobby = lobby
        self.ids = {}

    def conversation(self, a, b):
        return self.ids.setdefault(tuple(sorted((a, b))), [])

    async def listing(self, user):
        reply = await self.clients[user].request("conversations")
        indexOf = {}
        for key, ids in self.ids.items():
            for index, msgId in enumerate(ids):
                indexOf[(key, msgId)] = index
        found = []
        for c in reply["conversations"]:
            peer = c.get("with")
            if not peer and not self.lobby:
                continue
            key = tuple(sorted((user, peer))) if peer else ("#", c["group"])
            last = c["last"]
            found.append((
                peer or c["group"], c["unread"],
                None if c["read"] is None else indexOf.get((key, c["read"]), c["read"] if not peer else "?"),
                None if last is None else (last["from"], last.get("text"), last.get("retracted", False)),
            ))
        return sorted(found, key=repr)

    def _indexed(self, key, events):
        ids = self.ids.get(key, [])
        return [(ids.index(e["msg_id"]) if e["msg_id"] in ids else "?", e["from"], e.get("text"),
                 e.get("retracted", False)) for e in events]

    async def history(self, user, peer):
        reply = await self.request(user, type="history", limit=200, **{"with": peer})
        if "error" in reply:
            return reply["error"]
        return self._indexed(tuple(sorted((user, peer))), reply["messages"])

    async def pushed(self, user):
        """
        What a new connection of C{user} is pushed at login, per
        conversation (the order across conversations is by time, which
        differs between the stores' clocks).
        """
        client = await self.chat.user(user, register=False)
        await client.request("ping")
        await self.chat.wait(0.3)
        byConversation = {}
        for event in client.events:
            if event.get("type") == "message" and (self.lobby or "group" not in event):
                peer = event.get("group") or (event["to"] if event["from"] == user else event["from"])
                byConversation.setdefault(peer, []).append(event)
        return {peer: self._indexed(tuple(sorted((user, peer))), events)
                for peer, events in byConversation.items()}


async def step(rng, sides):
    """
    One random request, made the same on both sides; the replies' outcome
    (ok or the error code) must match.
    """
    user, peer = rng.sample(sides[0].users, 2)
    roll = rng.random()
    outcomes = []
    for side in sides:
        ids = side.conversation(user, peer)
        if roll < 0.55:
            reply = await side.request(user, type="send", to=peer, text="第%d条 %s 🍵" % (len(ids), user))
            if "msg_id" in reply:
                ids.append(reply["msg_id"])
            outcomes.append(reply.get("error", "ok"))
        elif roll < 0.75 and ids:
            index = rng.Random(len(ids)).randrange(len(ids)) if False else int(roll * 1000) % len(ids)
            reply = await side.request(user, type="ack", upto=ids[index], **{"with": peer})
            outcomes.append(reply.get("error", "ok"))
        elif roll < 0.85 and ids:
            index = int(roll * 1000) % len(ids)
            reply = await side.request(user, type="retract", msg_id=ids[index], **{"with": peer})
            outcomes.append(reply.get("error", "ok"))
        elif roll < 0.90:
            reply = await side.request(user, type="block", user=peer)
            outcomes.append(reply.get("error", "ok"))
        elif roll < 0.97:
            reply = await side.request(user, type="unblock", user=peer)
            outcomes.append(reply.get("error", "ok"))
        elif side.lobby:
            reply = await side.request(user, type="group.send", group="lobby", text="大家好 %s 👋" % (user,))
            if "msg_id" in reply:
                side.ids.setdefault(("#", "lobby"), []).append(reply["msg_id"])
            outcomes.append(reply.get("error", "ok"))
    return outcomes


async def sameOnBoth(sides, seed, steps=120):
    """
    Make C{steps} random requests on both C{sides} (started); after each,
    the same outcome and the same conversation list for every user; at the
    end the same histories and login pushes.
    """
    users = sides[0].users
    rng = random.Random(seed)
    for number in range(steps):
        outcomes = await step(rng, sides)
        # (None, where the step was one the sides leave out.)
        assert len(outcomes) in (0, 2) and outcomes[:1] == outcomes[1:], (number, outcomes)
        for user in users:
            listings = [await side.listing(user) for side in sides]
            assert listings[0] == listings[1], (number, user)
    # And the same history and login push, retracted messages in place.
    for user in users:
        for peer in users:
            if peer != user:
                histories = [await side.history(user, peer) for side in sides]
                assert histories[0] == histories[1], (user, peer)
        pushes = [await side.pushed(user) for side in sides]
        assert pushes[0] == pushes[1], user


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest_twisted.ensureDeferred
async def test_the_same_conversation_list_on_both_stores(request, seed):
    async with bothStores(request, ConversationSide, USERS) as sides:
        await sameOnBoth(sides, seed)
