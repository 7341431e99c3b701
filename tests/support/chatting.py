"""
Helpers for the messaging tests: sending many messages at once and waiting
for message events.
"""

from twisted.internet import defer



def offline(client):
    """
    The C{message} events C{client} has received so far, in order (kept).
    """
    return [e for e in client.events if e.get("type") == "message"]


async def sendMany(client, count, kind="send", text="消息 {i} 🙂", **fields):
    """
    Send C{count} messages without waiting between them (the server reads
    them in order); the list of their C{ok} replies, in order.
    """
    ds = [client.request(kind, text=text.format(i=i), **fields) for i in range(count)]
    return await defer.gatherResults(ds, consumeErrors=True)


async def receive(client, count, timeout=10.0, **match):
    """
    Wait until C{client} holds at least C{count} C{message} events matching
    C{match}; return them (kept in C{client.events}).
    """
    def found():
        return [
            e for e in client.events
            if e.get("type") == "message" and all(e.get(k) == v for k, v in match.items())
        ]

    await client.until(lambda: len(found()) >= count, timeout=timeout)
    return found()


async def settle(client, seconds=0.2):
    """
    Make a round trip and wait a moment, so that anything the server was
    going to push has arrived.
    """
    await client.request("ping")
    await client.wait(seconds)


async def caughtUp(chat, client, timeout=10.0):
    """
    Wait until the server has pushed all of C{client}'s missed messages,
    then make a round trip, so that every one of them has arrived.
    """
    session = sessionOf(chat, client)
    await chat.until(lambda: not chat.service.delivery.isCatchingUp(session), timeout=timeout)
    await client.request("ping")


def ids(events):
    """
    The msg_ids of C{events}.
    """
    return [e["msg_id"] for e in events]


async def login(chat, name, password="secret"):
    """
    Another connection logged in as an existing user C{name}.
    """
    return await chat.user(name, password=password, register=False)


async def logout(chat, *clients):
    """
    Close C{clients} and wait until the server counts their users offline
    (closing our side does not wait for the server to notice).
    """
    users = set()
    for client in clients:
        users.update(s.user for s in chat.service.sessions if s.user and _isPeer(s, client))
        await client.close()
    for _ in range(500):
        online = False
        for user in users:
            if user in chat.service.registry or await chat.service.store.presence.isOnline(user):
                online = True
        if not online:
            return
        await chat.wait(0.01)
    raise AssertionError("%s still online" % (sorted(users),))


def _isPeer(session, client):
    # The server-side session of a test client: its peer is our local end.
    host = client.transport.getHost()
    return session.peer == "%s:%s" % (host.host, host.port)


def sessionOf(chat, client):
    """
    The server-side L{Session} of C{client}.
    """
    for session in chat.service.sessions:
        if _isPeer(session, client):
            return session
    raise LookupError(client)
