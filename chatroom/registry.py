# -*- test-case-name: tests.test_presence -*-
"""
The logged-in connections of this node, by user and by group.
"""


class PresenceRegistry:
    """
    Who is connected to this node: each user's sessions, and for every group
    the locally connected members, so that a group message or a presence
    event finds its local recipients without asking Redis.

    Group sizes are remembered as last seen (at login, join and leave); they
    only decide whether a group is small enough for presence events.
    """

    def __init__(self):
        self._sessions = {}
        self._userGroups = {}
        self._groupUsers = {}
        self._groupSizes = {}

    def __len__(self):
        return len(self._sessions)

    def __contains__(self, user):
        return user in self._sessions

    def users(self):
        """
        The users with a session on this node.
        """
        return self._sessions.keys()

    def sessions(self, user):
        """
        The sessions of C{user} on this node (a possibly empty sequence).
        """
        return self._sessions.get(user, ())

    def connectionCount(self):
        """
        The number of logged-in sessions on this node.
        """
        return sum(len(s) for s in self._sessions.values())

    def add(self, session, groups):
        """
        Register a logged-in C{session}; C{groups} maps the user's groups
        to their sizes.  C{True} if it is the user's first session here.
        """
        user = session.user
        sessions = self._sessions.get(user)
        self._groupSizes.update(groups)
        if sessions is not None:
            sessions.append(session)
            return False
        self._sessions[user] = [session]
        self._userGroups[user] = set(groups)
        for group in groups:
            self._groupUsers.setdefault(group, set()).add(user)
        return True

    def remove(self, session):
        """
        Forget C{session}.  C{True} if it was its user's last one here.
        """
        user = session.user
        sessions = self._sessions.get(user)
        if not sessions or session not in sessions:
            return False
        sessions.remove(session)
        if sessions:
            return False
        del self._sessions[user]
        for group in self._userGroups.pop(user, ()):
            self._discard(group, user)
        return True

    def _discard(self, group, user):
        members = self._groupUsers.get(group)
        if members is not None:
            members.discard(user)
            if not members:
                del self._groupUsers[group]

    def groupsOf(self, user):
        """
        The groups of C{user} (known only while it is connected here).
        """
        return self._userGroups.get(user, ())

    def members(self, group):
        """
        The members of C{group} connected to this node.
        """
        return self._groupUsers.get(group, ())

    def joined(self, user, group, size=None):
        """
        Record that C{user} joined C{group}.
        """
        if size is not None:
            self._groupSizes[group] = size
        else:
            self._groupSizes[group] = self._groupSizes.get(group, 0) + 1
        groups = self._userGroups.get(user)
        if groups is not None:
            groups.add(group)
            self._groupUsers.setdefault(group, set()).add(user)

    def left(self, user, group):
        """
        Record that C{user} left C{group}.
        """
        if group in self._groupSizes:
            self._groupSizes[group] = max(0, self._groupSizes[group] - 1)
        groups = self._userGroups.get(user)
        if groups is not None:
            groups.discard(group)
            self._discard(group, user)

    def dropGroup(self, group):
        """
        Forget C{group} (deleted) for every user here.
        """
        self._groupSizes.pop(group, None)
        for user in self._groupUsers.pop(group, ()):
            self._userGroups.get(user, set()).discard(group)

    def groupSize(self, group):
        """
        The last known member count of C{group} (0 if never seen).
        """
        return self._groupSizes.get(group, 0)

    def smallGroups(self, user, maxGroup):
        """
        The groups of C{user} with at most C{maxGroup} members: those its
        presence events go to.
        """
        sizes = self._groupSizes
        return [g for g in self._userGroups.get(user, ()) if sizes.get(g, 0) <= maxGroup]

    def neighbours(self, user, maxGroup):
        """
        The users connected here who share with C{user} a group of at most
        C{maxGroup} members (C{user} excluded): the audience of its presence.
        """
        found = set()
        sizes = self._groupSizes
        for group in self._userGroups.get(user, ()):
            if sizes.get(group, 0) <= maxGroup:
                found.update(self._groupUsers.get(group, ()))
        found.discard(user)
        return found
