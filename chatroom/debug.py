# -*- test-case-name: tests.test_debug -*-
"""
The telnet-style debug port: the same JSON objects as the main port, one per
line, handled by the same sessions and handlers.  C{nc localhost 8890} is
enough to chat.
"""

from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.protocols.basic import LineOnlyReceiver

from zope.interface import implementer

from chatroom.errors import BadJSON, TooLarge
from chatroom.protocol import decode


@implementer(IHalfCloseableProtocol)
class JSONLineProtocol(LineOnlyReceiver):
    """
    One JSON object per line; C{\\n} and C{\\r\\n} both end a line.
    """

    delimiter = b"\n"
    session = None
    _refused = False

    def connectionMade(self):
        # The limit is on the JSON, as on the main port: one more byte for
        # the \r of a \r\n line end, checked again in lineReceived.
        self.maxFrame = self.factory.maxFrame
        self.MAX_LENGTH = self.maxFrame + 1
        self.session = self.factory.openSession(self)

    def lineReceived(self, line):
        if self.session is None or self._refused:
            return
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > self.maxFrame:
            self.lineLengthExceeded(line)
            return
        if not line.strip():
            # An empty line is a person pressing Enter; not an error.
            return
        try:
            obj = decode(line)
        except BadJSON as e:
            self.session.rejected(e)
        else:
            self.session.objectReceived(obj)

    def dataReceived(self, data):
        if self._refused:
            return
        super().dataReceived(data)

    def lineLengthExceeded(self, line):
        # Nothing after an oversize frame is read: the connection closes
        # once the too_large reply has had its turn, and until then a
        # client must not make us buffer (or re-scan) what it keeps sending.
        self._refused = True
        self.transport.pauseProducing()
        if self.session is not None:
            self.session.rejected(TooLarge("line is over the limit of %d bytes" % (self.maxFrame,)), close=True)
        else:
            self.transport.loseConnection()

    def sendPayload(self, payload):
        """
        Write one encoded JSON object as a line (JSON never holds a raw
        newline, so a line is always one object).
        """
        self.transport.write(payload + b"\r\n")

    def readConnectionLost(self):
        if self.session is not None:
            self.session.inputEnded()
        else:
            self.transport.loseConnection()

    def writeConnectionLost(self):
        self.transport.loseConnection()

    def connectionLost(self, reason):
        if self.session is not None:
            session, self.session = self.session, None
            session.connectionLost()
