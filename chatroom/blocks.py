# -*- test-case-name: tests.handlers.test_controls -*-
"""
Whom this node's logged-in users have blocked: loaded at a user's first
login here, kept up to date by C{block}/C{unblock} on any node (through the
relay), forgotten when the user's last connection here goes.  Delivery
reads it to keep events about a user (C{presence}, and C{typing} and
C{read} alike) from those who blocked that user.
"""


class LocalBlocks:
    """
    user -> the users it blocked, for the users connected to this node
    that blocked anyone.
    """

    def __init__(self):
        self._blocks = {}

    def __bool__(self):
        return bool(self._blocks)

    def load(self, user, peers):
        """
        C{user} logged in here; C{peers} are the users it blocked.
        """
        if peers:
            self._blocks[user] = set(peers)
        else:
            self._blocks.pop(user, None)

    def forget(self, user):
        """
        C{user} has no connection here any more.
        """
        self._blocks.pop(user, None)

    def changed(self, user, peer, blocked, here=True):
        """
        C{user} blocked (or unblocked) C{peer}; only users connected here
        (C{here}) are followed.
        """
        peers = self._blocks.get(user)
        if blocked:
            if peers is None:
                if here:
                    self._blocks[user] = {peer}
            else:
                peers.add(peer)
        elif peers is not None:
            peers.discard(peer)
            if not peers:
                del self._blocks[user]

    def blocks(self, user, peer):
        """
        Whether C{user} (connected here) blocked C{peer}.
        """
        peers = self._blocks.get(user)
        return peers is not None and peer in peers
