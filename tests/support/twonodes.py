"""
Two nodes on one storage, for the cross-node cases of the rule tests: on
the in-memory store they share a L{MemoryData} and a clock, on Redis one
redis-server.
"""


async def twoNodes(make_chat, store, **options):
    """
    Two chat nodes (C{"n1"}, C{"n2"}) on the test's store, once each knows
    of the other.
    """
    first = await make_chat(node="n1", **options)
    shared = {"data": first.store.data, "clock": first.clock} if store == "memory" else {}
    second = await make_chat(node="n2", **shared, **options)
    await second.until(lambda: first.service.relay.multiNode and second.service.relay.multiNode)
    return first, second


def events(client, kind):
    """
    The events of type C{kind} C{client} has received so far (kept).
    """
    return [e for e in client.events if e.get("type") == kind]
