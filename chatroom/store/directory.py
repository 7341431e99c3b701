# -*- test-case-name: tests.store.test_migrate -*-
"""
The directory of public groups (C{{dir}}, new in protocol 1.1), filled
once at start with the public groups of an earlier release; the group
scripts keep it up to date after that.
"""

from twisted.logger import Logger

from chatroom.store import keys
from chatroom.store.connection import allOf

log = Logger()

#: Keys asked for per C{SCAN} call.
BATCH = 500

#: Set once the directory holds the public groups made before it existed.
DIRECTORY_BUILT = keys.DIRECTORY + ":built"


async def buildDirectory(link, batch=BATCH):
    """
    Fill the directory of public groups (C{{dir}}, new in protocol 1.1)
    with the groups of an earlier release, once: each C{{g:NAME}} hash
    found by C{SCAN} whose group is not private.  Safe to repeat and to run
    on several nodes at once (C{ZADD} of a name present is a no-op); the
    marker is written last.  On a Redis Cluster the C{SCAN} sees one master
    only: groups of an earlier release elsewhere appear in the directory
    once their settings change.

    @return: the number of groups added, or C{None} if it was built already.
    """
    if await link.execute("GET", DIRECTORY_BUILT) is not None:
        return None
    added, cursor = 0, "0"
    while True:
        cursor, found = await link.execute("SCAN", cursor, "MATCH", "{g:*}", "COUNT", batch)
        names = [key[3:-1] for key in found if key.endswith("}") and "}" not in key[:-1]]
        if names:
            visibility = await allOf([link.execute("HGET", keys.group(name), "visibility") for name in names])
            public = [name for name, v in zip(names, visibility) if v != "private"]
            if public:
                added += int(await link.execute("ZADD", keys.DIRECTORY, *[x for n in public for x in (0, n)]))
        if str(cursor) == "0":
            break
    await link.execute("SET", DIRECTORY_BUILT, "1")
    if added:
        log.info("Directory of public groups: added {count} groups of an earlier release", count=added)
    return added
