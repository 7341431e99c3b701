"""
The Redis key layout, in one place.  docs/storage.rst describes each key.

User and group names may hold any letter but never C{:}, so C{:} separates
the parts of a key unambiguously.
"""

PREFIX = "cr:"

GROUPS = PREFIX + "groups"
ONLINE = PREFIX + "online"
NODES = PREFIX + "nodes"

USER = PREFIX + "user:"
USER_GROUPS = PREFIX + "ugroups:"
GROUP_MEMBERS = PREFIX + "gmembers:"
GROUP_STREAM = PREFIX + "gm:"
DIRECT_STREAM = PREFIX + "dm:"
READ = PREFIX + "read:"
PENDING = PREFIX + "pending:"
CID = PREFIX + "cid:"
LOCATIONS = PREFIX + "loc:"
NODE = PREFIX + "node:"


def user(name):
    """The hash of a user's account: password hash and display name."""
    return USER + name


def userGroups(name):
    """The set of groups a user belongs to."""
    return USER_GROUPS + name


def groupMembers(group):
    """The hash of a group's members: user -> position at joining."""
    return GROUP_MEMBERS + group


def groupStream(group):
    """The stream holding a group's messages."""
    return GROUP_STREAM + group


def directStream(a, b):
    """
    The stream holding the direct messages between C{a} and C{b}, the same
    whichever of them is named first (code point order is UTF-8 byte order).
    """
    if b < a:
        a, b = b, a
    return DIRECT_STREAM + a + ":" + b


def readPositions(name):
    """The hash of a user's read positions: 'u:peer' / 'g:group' -> msg_id."""
    return READ + name


def pending(name):
    """The hash of peers that may have unread direct messages for a user."""
    return PENDING + name


def cid(name, conversation, clientId):
    """
    The idempotency record of a user's send with a client id in one
    conversation (C{'u:' + peer} or C{'g:' + group}): a cid reused in
    another conversation is another message, never the first one's msg_id.
    """
    return CID + name + ":" + conversation + ":" + clientId


def locations(name):
    """The hash of a user's online connections: node -> count."""
    return LOCATIONS + name


def nodeUsers(node):
    """The set of users with connections on a node."""
    return NODE + node + ":users"


def nodeAlive(node):
    """A node's liveness key, which expires unless the node refreshes it."""
    return NODE + node + ":alive"


def nodeChannel(node):
    """The pub/sub channel a node listens to."""
    return NODE + node + ":events"


BROADCAST = PREFIX + "broadcast"


def groupChannel(group):
    """The pub/sub channel of a group's messages and events between nodes."""
    return PREFIX + "gch:" + group
