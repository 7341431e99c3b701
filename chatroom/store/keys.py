"""
The Redis key layout, in one place.  docs/storage.rst describes each key.

Every key carries a hash tag (the part in braces), and the keys one script
touches share it, so that every script runs in one hash slot and the data
can be spread over a Redis Cluster: a user's keys are tagged C{{u:NAME}},
a direct conversation's C{{d:A|B}}, a group's C{{g:NAME}}, a node's
C{{n:ID}}.  Names never hold C{:}, C{|}, C{{} or C{}}, so the parts of a
key cannot run into each other.
"""

#: The sorted set of users online (its own slot: only ever one key in a call).
ONLINE = "{online}"
#: The set of node ids.
NODES = "{nodes}"
#: The channel every node listens to.
BROADCAST = "{nodes}:events"
#: The layout version written by the release that made the data.
LAYOUT = "{layout}"
#: The directory of public groups (a sorted set, every score 0; its own slot,
#: a derived index like the user's groups index).
DIRECTORY = "{dir}"


def user(name):
    """A user's account hash: password hash, display name."""
    return "{u:%s}" % (name,)


def userGroups(name):
    """The index of a user's groups (the truth is each group's members)."""
    return "{u:%s}:groups" % (name,)


def userPeers(name):
    """
    The index of a user's direct conversations that others wrote in: the
    peers who wrote to the user (and, from before L{userWrote}, some the
    user wrote to).
    """
    return "{u:%s}:peers" % (name,)


def userWrote(name):
    """
    The peers a user has written to: with L{userPeers}, the index of its
    direct conversations.  A conversation whose peer is not here holds no
    message of the user's, so its unread messages are counted from the
    stream's counters (see conversation_state.lua).
    """
    return "{u:%s}:wrote" % (name,)


def locations(name):
    """A user's connections: node -> count."""
    return "{u:%s}:loc" % (name,)


def _pair(a, b):
    # Code point order is UTF-8 byte order: the same key whoever sends.
    return (a, b) if a <= b else (b, a)


def direct(a, b):
    """The hash tag of the direct conversation between C{a} and C{b}."""
    return "{d:%s|%s}" % _pair(a, b)


def directStream(a, b):
    """The stream of the direct messages between C{a} and C{b}."""
    return direct(a, b) + ":stream"


def directRead(a, b):
    """The read positions of the two users of a direct conversation."""
    return direct(a, b) + ":read"


def directRetracted(a, b):
    """The retracted messages of a direct conversation (see L{groupRetracted})."""
    return direct(a, b) + ":retracted"


def directUnread(a, b):
    """The unread counts of a direct conversation (see L{groupUnread})."""
    return direct(a, b) + ":unread"


def directCid(sender, recipient, clientId):
    """The idempotency record of C{sender}'s send with a client id."""
    return "%s:cid:%s:%s" % (direct(sender, recipient), sender, clientId)


def group(name):
    """A group's hash: it exists iff the group does."""
    return "{g:%s}" % (name,)


def groupMembers(name):
    """A group's members: user -> msg_id of the newest message at joining."""
    return "{g:%s}:members" % (name,)


def groupRoles(name):
    """A group's roles: user -> "owner" or "admin" (plain members absent)."""
    return "{g:%s}:roles" % (name,)


def groupBans(name):
    """The users banned from a group (a set)."""
    return "{g:%s}:bans" % (name,)


def groupOrder(name):
    """A group's members by seniority: user -> join sequence (sorted set)."""
    return "{g:%s}:order" % (name,)


def groupFrom(name):
    """Where a member's view of history starts (members who joined under
    the "joined" history rule): user -> msg_id."""
    return "{g:%s}:from" % (name,)


def groupKeys(name):
    """
    Every key of a group's slot that the group scripts take, in their
    KEYS order: hash, members, stream, read positions, order, roles, bans,
    history starts, retracted messages, unread counts.
    """
    return [group(name), groupMembers(name), groupStream(name), groupRead(name),
            groupOrder(name), groupRoles(name), groupBans(name), groupFrom(name),
            groupRetracted(name), groupUnread(name)]


def groupRetracted(name):
    """
    A group's retracted messages: a sorted set (all scores 0) of
    C{"<ms>-<seq>|<sender>"}, the msg_id's parts zero-padded to 20 digits
    so that byte order is the conversation's order.
    """
    return "{g:%s}:retracted" % (name,)


def groupUnread(name):
    """
    A group's unread counts, as last counted for the conversation list:
    user -> C{"<read position>|<newest msg_id counted>|<count>"}.
    """
    return "{g:%s}:unread" % (name,)


def groupStream(name):
    """The stream of a group's messages."""
    return "{g:%s}:stream" % (name,)


def groupRead(name):
    """The read positions of a group's members."""
    return "{g:%s}:read" % (name,)


def groupCid(sender, name, clientId):
    """The idempotency record of C{sender}'s group send with a client id."""
    return "{g:%s}:cid:%s:%s" % (name, sender, clientId)


def groupChannel(name):
    """The pub/sub channel of a group's messages and events between nodes."""
    return "{g:%s}:events" % (name,)


def nodeUsers(node):
    """The index of the users with connections on a node."""
    return "{n:%s}:users" % (node,)


def nodeAlive(node):
    """A node's liveness key, which expires unless the node refreshes it."""
    return "{n:%s}:alive" % (node,)


def nodeChannel(node):
    """The pub/sub channel a node listens to."""
    return "{n:%s}:events" % (node,)


def kindOf(key):
    """
    What C{key} holds, read back from its name, for walks over the whole
    keyspace (C{chatroom-admin stats}): C{("user", name)} for an account,
    C{("group", name)} for a group's hash, C{("direct stream", tag)} or
    C{("group stream", name)} for a conversation's messages; C{(None,
    None)} for every other key.
    """
    if not key.startswith("{") or len(key) < 4 or key[2] != ":":
        return None, None
    close = key.find("}")
    if close < 0:
        return None, None
    kind, name, rest = key[1], key[3:close], key[close + 1:]
    if rest == "":
        return {"u": "user", "g": "group"}.get(kind), name if kind in "ug" else None
    if rest == ":stream" and kind in "dg":
        return ("direct stream" if kind == "d" else "group stream"), name
    return None, None


# Names and personal controls (PROTOCOL 1.1).

def _escapeKey(value):
    # A name key (a skeleton) may hold characters names never do (':' is the
    # prototype of U+02D0): escaped so that it cannot end the hash tag or
    # run into the next part.
    return value.replace("%", "%25").replace(":", "%3A").replace("|", "%7C").replace("{", "%7B").replace("}", "%7D")


def userName(nameKey):
    """The claim of a user name key (see L{chatroom.names.nameKeys})."""
    return "{s:%s}" % (_escapeKey(nameKey),)


def groupName(nameKey):
    """The claim of a group name key."""
    return "{gs:%s}" % (_escapeKey(nameKey),)


def userBlocks(name):
    """The users a user has blocked: the truth of C{blocks}."""
    return "{u:%s}:blocks" % (name,)


def userBlocksPending(name):
    """The peers whose conversation's block marker may not follow the
    user's blocks yet (a request stopped between the two writes)."""
    return "{u:%s}:blocks:pending" % (name,)


def directBlocked(a, b):
    """The users of a direct conversation who blocked the other one."""
    return direct(a, b) + ":blocked"


def directSeal(a, b):
    """The last id a blocked conversation's stream had before it was sealed."""
    return direct(a, b) + ":seal"
