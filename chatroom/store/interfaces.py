# -*- test-case-name: tests.store.test_memory -*-
"""
What a store is.  Two implementations exist: L{chatroom.store.redis.RedisStore}
(the server's) and L{chatroom.store.memory.MemoryStore} (the same rules in
memory, for fast tests of everything above the store).  The rule tests run
against both, so that the two cannot drift apart.

Every method returns a Deferred (or is a coroutine); failures are
L{chatroom.errors.ChatError}s (L{chatroom.errors.Unavailable} when the
storage cannot be reached: the request had no effect).
"""

from twisted.application.service import IService
from zope.interface import Attribute, Interface


class IAccountStore(Interface):
    """
    User accounts: password hashes and display names.
    """

    def create(user, passwordHash, displayName):
        """
        Create C{user}, a member of the lobby; L{UserExists} if taken,
        L{NameTaken} if another name is the same name
        (L{chatroom.names.nameKeys}).
        """

    def nameTaken(user):
        """
        Whether another user name that is the same name holds it (a look
        before hashing a password; L{create} decides).
        """

    def credentials(user):
        """
        C{(password hash, display name)} of C{user}, or C{None}.
        """

    def ensureLobby():
        """
        Make sure the lobby exists.
        """


class IGroupStore(Interface):
    """
    Groups, their members, roles, bans and settings.  Every method taking
    C{admin} is told whether the caller is a server admin (every right of
    an owner in every group); who may do what is checked with the change.
    For a private group, a caller who is not a member (nor a server admin)
    gets L{NotMember} from every method but L{create} and L{join}.
    """

    def create(group, user, maxGroups=0, visibility="public", history="shared", title=""):
        """
        Create C{group} with C{user} as first member and owner;
        L{GroupExists}.  L{BadRequest} (nothing changed) if C{user} is in
        C{maxGroups} groups already (0: no limit), checked first.
        """

    def join(group, user, maxGroups=0, maxMembers=0, admin=False):
        """
        Make C{user} a member of C{group}: C{False} if it already was;
        L{NoSuchGroup}; L{Forbidden} if the group is private or bans
        C{user}.  Its read position starts at the newest message.
        L{BadRequest} (nothing changed) if C{user} is in C{maxGroups}
        groups (checked first) or C{group} has C{maxMembers} members (0:
        no limit; the lobby has none), unless C{user} is in it already.
        """

    def add(group, actor, user, maxGroups=0, maxMembers=0, admin=False):
        """
        C{actor} adds C{user}: C{False} if it was a member.  The owner and
        admins may, and any member of a public group; L{Forbidden} for a
        banned C{user}; the caps as for L{join}.
        """

    def leave(group, user):
        """
        Remove C{user} from C{group}: a L{chatroom.store.groups.Removal}
        (ownership passes on; a group left empty is deleted, the lobby
        excepted); L{NoSuchGroup}, L{NotMember}.
        """

    def kick(group, actor, user, admin=False):
        """
        C{actor} removes C{user}: a L{Removal}.  The owner may remove
        anyone else, admins plain members only (L{Forbidden}).
        """

    def ban(group, actor, user, admin=False):
        """
        C{actor} bans C{user} (removed if a member): a L{Removal}; rights
        as for L{kick}.
        """

    def unban(group, actor, user, admin=False):
        """
        C{actor} lifts C{user}'s ban: whether there was one.
        """

    def setRole(group, actor, user, role, admin=False):
        """
        The owner gives C{user} C{role} (C{"owner"} hands ownership over,
        the old owner becoming an admin): C{(changed, previous owner or
        None)}.
        """

    def configure(group, actor, settings, admin=False):
        """
        The owner or an admin changes C{settings} (C{title},
        C{visibility}, C{history}): a dict of those that changed.  The
        lobby stays public and shared (L{Forbidden}).
        """

    def delete(group, actor, admin=False):
        """
        The owner deletes C{group} (never the lobby): the members it had.
        """

    def info(group, user, admin=False):
        """
        A L{chatroom.store.groups.GroupInfo} of C{group} for C{user}.
        """

    def groupsOf(user):
        """
        The names of C{user}'s groups, sorted.
        """

    def detailsOf(user):
        """
        C{[(group, {"title", "role", "visibility"}), ...]} of C{user}'s
        groups, sorted.
        """

    def members(group, user, cursor=None, limit=100, admin=False):
        """
        C{([(user, online, role), ...], next cursor or None, total)}: a
        page of members, longest-standing first; L{NoSuchGroup}.
        """

    def directory(prefix="", cursor=None, limit=50):
        """
        C{([(group, title, members), ...], next cursor or None)}: public
        groups whose names start with C{prefix}, by name.
        """

    def size(group):
        """
        The number of members of C{group}.
        """


class IMessageStore(Interface):
    """
    Conversations (direct and group), read positions and the unread index.
    A msg_id is C{"ms-seq"}: the server's milliseconds and a sequence, in
    the conversation's order.
    """

    retention = Attribute("The most messages kept per conversation.")

    def sendDirect(sender, recipient, text, cid=None, recipientExists=False):
        """
        Store a direct message: a L{chatroom.store.messages.Stored};
        L{NoSuchUser}.  A C{cid} seen from C{sender} in this conversation
        within 24 hours gives the first message's msg_id, C{replayed}, and
        stores nothing.  C{recipientExists} tells that the caller knows the
        recipient has an account (a hint: the store may skip asking).
        """

    def sendGroup(group, sender, text, cid=None):
        """
        Store a message to C{group} from a member: a L{Stored};
        L{NoSuchGroup}, L{NotMember}.
        """

    def ack(user, conversation, upto):
        """
        Move C{user}'s read position in C{conversation} (a
        L{chatroom.messages.Conversation}) forward to C{upto}, never back
        and never past the newest message: the new position if it moved,
        else C{None}.
        """

    def mustExist(user, peer):
        """
        L{NoSuchUser} unless C{peer} exists.
        """

    def history(user, conversation, before, limit, admin=False):
        """
        C{(entries, more)}: up to C{limit} messages before C{before} (or
        the newest), oldest first, each C{(msg_id, {"f": sender, "t":
        text})}, or C{(msg_id, {"f": sender, "r": "1"})} once retracted; of a group, from the user's joining if it joined under the
        "joined" rule; a server C{admin} may read any group's.
        """

    def unread(user):
        """
        C{[(Conversation, read position), ...]}: the conversations that may
        hold messages after C{user}'s read position, found from the user's
        own conversations only.
        """

    def after(user, conversation, position, count):
        """
        Up to C{count} messages of C{conversation} after C{position}.
        """


class IConversationStore(Interface):
    """
    A user's conversation list, retraction, and the read-receipts setting.
    """

    def index(user):
        """
        The L{chatroom.messages.Conversation}s of C{user}'s indexes.
        """

    def activity(user, conversations):
        """
        The newest msg_id of each of C{conversations} (C{None} for an empty
        group, C{"-"} for a group the user is not in or a direct
        conversation with no message: not listed).
        """

    def states(user, conversations):
        """
        A L{chatroom.store.conversations.ConversationState} for each of
        C{conversations} (C{None} for a group the user is not in or a
        direct conversation with no message).
        """

    def retract(user, conversation, msgId, serverAdmin=False):
        """
        Retract a message: C{(sender, changed)}; L{BadRequest} for an
        unknown one, L{Forbidden} if not the caller's to retract.
        """

    def readReceipts(user):
        """
        Whether C{user} sends read receipts.
        """

    def setReadReceipts(user, on):
        """
        Turn C{user}'s read receipts on or off.
        """


class IPresenceStore(Interface):
    """
    Who is online on which node, cluster-wide.
    """

    node = Attribute("This node's id.")

    def connect(user):
        """
        Count a logged-in connection of C{user} on this node: C{(first
        anywhere, users online, {group: member count})}.
        """

    def disconnect(user):
        """
        Count one out: whether it was the user's last connection anywhere.
        """

    def resetNode(node=None):
        """
        Forget every connection of C{node} (default: this one): the users
        now offline everywhere.
        """

    def page(cursor, limit):
        """
        C{(users, next cursor, total)}: online users after C{cursor} in name
        order, each C{(user, display name)}.
        """

    def count():
        """
        The number of users online.
        """

    def isOnline(user):
        """
        Whether C{user} has a connection on any node.
        """

    def locate(users):
        """
        The nodes where each of C{users} has connections: a list of lists.
        """

    def resync(counts, liveness=0):
        """
        Set this node's connections to C{counts} ({user: connections}),
        whatever was stored: C{(users now offline, users back online)}.
        """


class INodeStore(Interface):
    """
    The nodes serving one user base, and the pub/sub between them.
    """

    def heartbeat(timeout):
        """
        Say this node is alive for C{timeout} seconds: the nodes known.
        """

    def reap(presenceMaxGroup):
        """
        Count out the users of nodes that stopped beating: C{(dead nodes,
        [(user now offline, [groups of at most presenceMaxGroup members]),
        ...])}.
        """

    def goodbye():
        """
        Leave the set of nodes.
        """

    def listen(receiver):
        """
        Call C{receiver(envelope)} (bytes) for every envelope published to
        this node, to every node, or to a group this node watches.
        """

    def onListening(f):
        """
        Call C{f()} every time the subscriptions are (again) in place.
        """

    def whenListening():
        """
        A Deferred that fires once the subscriptions are in place.
        """

    def watchGroups(groups):
        """
        Receive what is published to C{groups}; a Deferred that fires when
        nothing published afterwards can be missed.
        """

    def unwatchGroups(groups):
        """
        Stop receiving what is published to C{groups}.
        """

    def publishToNode(node, envelope):
        """
        Publish to one node (fire and forget).
        """

    def publishToGroup(group, envelope):
        """
        Publish to the nodes watching C{group} (fire and forget).
        """

    def broadcast(envelope):
        """
        Publish to every node (fire and forget).
        """


class IControlStore(Interface):
    """
    Personal controls: blocks, passwords, deletion, display names, bans.
    """

    def block(user, peer):
        """
        C{user} blocks C{peer}: C{True} if new; L{NoSuchUser}; L{BadRequest}
        at the cap.
        """

    def unblock(user, peer):
        """
        C{user} unblocks C{peer}: C{True} if it was blocked.
        """

    def blocksOf(user):
        """
        The users C{user} has blocked, sorted.
        """

    def setPassword(user, checked, new):
        """
        Replace the password hash C{checked} by C{new}: C{False} if it had
        changed meanwhile.
        """

    def delete(user, checked):
        """
        Delete the account whose hash C{checked} was verified; its groups
        are left: the groups left, or C{None} if the hash had changed
        meanwhile.
        """

    def setDisplayName(user, name):
        """
        Set C{user}'s display name.
        """

    def setBanned(user, banned):
        """
        Ban C{user} from the server or lift the ban; L{NoSuchUser}.
        """

    def isBanned(user):
        """
        Whether C{user} is banned from the server.
        """

    def info(user):
        """
        C{user}'s display name; L{NoSuchUser}, deleted accounts included.
        """


class IChatStore(IService):
    """
    Everything kept for the chat service, started and stopped as a service.
    """

    accounts = Attribute("The L{IAccountStore}.")
    groups = Attribute("The L{IGroupStore}.")
    messages = Attribute("The L{IMessageStore}.")
    conversations = Attribute("The L{IConversationStore}.")
    presence = Attribute("The L{IPresenceStore}.")
    nodes = Attribute("The L{INodeStore}.")
    controls = Attribute("The L{IControlStore}.")
    connected = Attribute("Whether the storage can be reached now.")

    def whenConnected():
        """
        A Deferred that fires once the storage can be reached.
        """

    def prepare():
        """
        Make the stored data ready for this release, before anything else
        uses it: data written by an earlier release is migrated to this
        one's layout (once; a node that starts meanwhile waits for it).
        L{chatroom.errors.Unavailable} if the storage was lost: call again.
        """

    def onConnected(f):
        """
        Call C{f()} every time the storage is reached: the first time and
        after every outage.
        """

    def ping():
        """
        A Deferred that fires when the storage answers a trivial command
        (the health probe of C{--metrics} times it).
        """

    def info(section="server"):
        """
        A dict describing the storage's health (for the manhole).
        """
