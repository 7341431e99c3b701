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

    def __init__(self, sessions, maxFrame, protocol=JSONFrameProtocol, port="main"):
        """
        @param sessions: the L{Sessions} of the node.
        @param maxFrame: the largest frame (or line) accepted, in bytes.
        @param port: the port's label in the metrics (C{main}, C{debug});
            a new kind of port names its own.
        """
        self.sessions = sessions
        self.maxFrame = maxFrame
        self.protocol = protocol
        self.port = port

    def openSession(self, protocol):
        """
        Called by a protocol when its connection is made.
        """
        return self.sessions.open(protocol, self.port)


def debugFactory(sessions, maxFrame):
    """
    The factory of the JSON-lines debug port.
    """
    return ChatFactory(sessions, maxFrame, JSONLineProtocol, port="debug")
