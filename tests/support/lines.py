"""
A test client for the JSON-lines debug port, with the interface of
L{tests.support.wire.TestClient}.
"""

import json

from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.protocols.basic import LineOnlyReceiver

from tests.support.wire import TestClient


class LineTestClient(LineOnlyReceiver, TestClient):
    """
    One connection to the debug port: a JSON object per line.

    @ivar lineEnd: what ends the lines this client writes.
    """

    delimiter = b"\n"
    lineEnd = b"\n"

    def lineReceived(self, line):
        assert line.endswith(b"\r"), "replies end with \\r\\n"
        self.stringReceived(line[:-1])

    def sendObject(self, obj):
        self.transport.write(json.dumps(obj, ensure_ascii=False).encode("utf-8") + self.lineEnd)


async def connectLines(port, lineEnd=b"\n"):
    """
    A connected L{LineTestClient}.
    """
    client = LineTestClient()
    client.lineEnd = lineEnd
    return await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), client)
