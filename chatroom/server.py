# -*- test-case-name: tests.test_protocol -*-
"""
The factories of the ports: each connection gets a session.
"""

from twisted.internet.protocol import Factory

from chatroom.debug import JSONLineProtocol
from chatroom.protocol import JSONFrameProtocol


class ChatFactory(Factory):
    """
    The factory of a port: each connection gets a L{Session} of the node's
    L{Sessions}.
    """

    def __init__(self, sessions, maxFrame, protocol=JSONFrameProtocol):
        """
        @param sessions: the L{Sessions} of the node.
        @param maxFrame: the largest frame (or line) accepted, in bytes.
        """
        self.sessions = sessions
        self.maxFrame = maxFrame
        self.protocol = protocol

    def openSession(self, protocol):
        """
        Called by a protocol when its connection is made.
        """
        return self.sessions.open(protocol)


def debugFactory(sessions, maxFrame):
    """
    The factory of the JSON-lines debug port.
    """
    return ChatFactory(sessions, maxFrame, JSONLineProtocol)
