# -*- test-case-name: tests.test_debug -*-
"""
The telnet-style debug port: the same JSON objects as the main port, one per
line, handled by the same sessions and handlers.  C{nc localhost 8890} is
enough to chat.
"""

from twisted.protocols.basic import LineOnlyReceiver

from chatroom.errors import TooLarge
from chatroom.protocol import SessionCarrier


class JSONLineProtocol(SessionCarrier, LineOnlyReceiver):
    """
    One JSON object per line; C{\\n} and C{\\r\\n} both end a line.
    """

    delimiter = b"\n"

    def connectionMade(self):
        # The limit is on the JSON, as on the main port: one more byte for
        # the \r of a \r\n line end, checked again in lineReceived.
        self.maxFrame = self.factory.maxFrame
        self.MAX_LENGTH = self.maxFrame + 1
        self.session = self.factory.openSession(self)

    def lineReceived(self, line):
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > self.maxFrame:
            self.lineLengthExceeded(line)
            return
        if not line.strip():
            # An empty line is a person pressing Enter; not an error.
            return
        self.received(line)

    def lineLengthExceeded(self, line):
        self.refuse(TooLarge("line is over the limit of %d bytes" % (self.maxFrame,)))

    def sendPayload(self, payload):
        """
        Write one encoded JSON object as a line (JSON never holds a raw
        newline, so a line is always one object).
        """
        self.transport.write(payload + b"\r\n")
