# -*- test-case-name: tests.test_protocol -*-
"""
The main port's wire format: 32-bit length-prefixed frames, each holding one
JSON object in UTF-8.

This module only frames and parses.  What a request means is the business
of the L{Session} the protocol hands decoded objects to.
"""

import json
import struct

import orjson

from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.protocols.basic import Int32StringReceiver

from zope.interface import implementer

from chatroom.errors import BadJSON, TooLarge

DEFAULT_MAX_FRAME = 65536

_prefix = struct.Struct(">I").pack
def encode(obj):
    """
    Encode a reply or event as compact UTF-8 JSON (no framing).
    """
    # orjson: a fifth of the stdlib encoder's time, and every message is
    # encoded and decoded several times on its way (request, reply, event,
    # ack): 9 us of the ~90 us a p2p message cost the server.
    return orjson.dumps(obj)


def _refuseConstant(name):
    raise ValueError("%s is not JSON" % (name,))


_strictDecoder = json.JSONDecoder(parse_constant=_refuseConstant)


def decode(data):
    """
    Decode one frame's payload.

    @raise BadJSON: if C{data} is not UTF-8 JSON.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    # orjson also refuses what is JSON but not data we can use: escaped lone
    # surrogates and integers beyond 64 bits.  The standard decoder takes
    # those, so that validation can name the field (and the reply keep its
    # id), as it does for every other bad value.
    try:
        return _strictDecoder.decode(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        # ValueError covers JSONDecodeError, NaN/Infinity and integers with
        # more digits than Python converts; RecursionError deep nesting.
        raise BadJSON() from None


def frame(payload):
    """
    Prefix an encoded payload with its length, ready for the wire.
    """
    return _prefix(len(payload)) + payload


@implementer(IHalfCloseableProtocol)
class SessionCarrier:
    """
    What both ports' protocols share: handing decoded objects (or the error
    a frame caused) to the connection's session, refusing everything after
    an oversize frame, and half-close.

    A subclass sets C{session} in C{connectionMade} and calls L{received}
    with each frame's payload and L{refuse} for an oversize one.
    """

    session = None
    _refused = False

    def received(self, data):
        """
        One frame's payload arrived: decode it for the session.
        """
        if self.session is None or self._refused:
            return
        try:
            obj = decode(data)
        except BadJSON as e:
            self.session.rejected(e)
        else:
            self.session.objectReceived(obj)

    def dataReceived(self, data):
        if self._refused:
            return
        super().dataReceived(data)

    def refuse(self, error):
        """
        An oversize frame: reply C{error} in its turn, then close.
        """
        # Nothing after an oversize frame is read: the connection closes
        # once the too_large reply has had its turn, and until then a
        # client must not make us buffer (or re-scan) what it keeps sending.
        self._refused = True
        self.transport.pauseProducing()
        if self.session is not None:
            self.session.rejected(error, close=True)
        else:
            self.transport.loseConnection()

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


class JSONFrameProtocol(SessionCarrier, Int32StringReceiver):
    """
    Length-prefixed JSON frames on the main port.

    The factory provides C{maxFrame} and C{openSession(protocol)}; the
    session receives decoded objects (or the L{ChatError} a frame caused)
    and calls L{sendPayload} with encoded JSON.
    """

    def connectionMade(self):
        self.MAX_LENGTH = self.factory.maxFrame
        self.session = self.factory.openSession(self)

    stringReceived = SessionCarrier.received

    def lengthLimitExceeded(self, length):
        self.refuse(TooLarge("frame of %d bytes is over the limit of %d" % (length, self.MAX_LENGTH)))

    def sendPayload(self, payload):
        """
        Write one encoded JSON object as a frame.
        """
        self.transport.write(_prefix(len(payload)) + payload)
