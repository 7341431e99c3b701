# -*- test-case-name: tests.client.test_protocol -*-
"""
The client side of the main port: requests with ids, replies matched back to
them, and events handed on.

Framing and JSON come from L{chatroom.protocol}, error classes from
L{chatroom.errors} and request validation from L{chatroom.messages}: the
client and the server share one implementation of the wire format.
"""

import itertools

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionLost
from twisted.logger import Logger
from twisted.protocols.basic import Int32StringReceiver

from chatroom import errors
from chatroom.errors import BadJSON, ChatError
# The modules of the 1.1 requests register them beside 1.0's: imported so
# that the client checks every request it may send.
from chatroom import controls, conversations, grouprequests  # noqa: F401
from chatroom.messages import parseRequest, requestClass
from chatroom.protocol import decode, encode

#: Replies can be much larger than requests (200 history messages of 8,192
#: characters, three UTF-8 bytes each for Chinese), so the client accepts far
#: more than the server's request limit.
MAX_REPLY = 16 * 1024 * 1024


def _errorClasses():
    classes = {}
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, ChatError) and value is not ChatError:
            classes[value.code] = value
    return classes


#: protocol error code -> L{ChatError} subclass
ERRORS = _errorClasses()


def errorFromReply(reply):
    """
    The exception for an C{error} reply: the L{ChatError} subclass for its
    code (plain L{ChatError} with that code for a code this client does not
    know), carrying the server's message and any extra fields.
    """
    code = reply.get("code")
    message = reply.get("message")
    extra = {k: v for k, v in reply.items() if k not in ("type", "id", "code", "message")}
    cls = ERRORS.get(code)
    if cls is None:
        error = ChatError(message, **extra)
        # An unknown code is still shown as the server sent it.
        error.code = code if isinstance(code, str) else "internal"
        return error
    return cls(message, **extra)


def validate(obj):
    """
    Check a request against the same classes the server uses, so a bad name
    or an empty text is refused before it is sent.

    @raise ChatError: L{errors.BadRequest} or L{errors.UnknownType}.
    """
    parseRequest(requestClass(obj["type"]), obj)


class ChatClientProtocol(Int32StringReceiver):
    """
    Send requests, match replies to them by id, pass events on.

    @ivar eventReceived: called with each event object (one without an id);
        set by whoever owns the connection.
    @ivar connectionLostCallback: called with the reason once the connection
        is gone, after every outstanding request has failed.
    """

    MAX_LENGTH = MAX_REPLY
    log = Logger()

    def __init__(self, eventReceived=None, connectionLostCallback=None):
        self.eventReceived = eventReceived or (lambda event: None)
        self.connectionLostCallback = connectionLostCallback or (lambda reason: None)
        self._ids = itertools.count(1)
        self._pending = {}
        self.connected = False

    def connectionMade(self):
        self.connected = True

    def request(self, type, **fields):
        """
        Send one request.

        @param fields: the request's fields; use C{**{"with": peer}} for the
            C{with} field, which is a Python keyword.
        @return: a L{Deferred} that fires with the C{ok} reply object, or
            fails with the L{ChatError} subclass for the C{error} reply's
            code (or L{ConnectionLost} if the connection goes first).
        """
        obj = {"type": type}
        obj.update((k, v) for k, v in fields.items() if v is not None)
        try:
            validate(obj)
        except ChatError as e:
            return _failed(e)
        if not self.connected:
            return _failed(ConnectionLost("not connected"))
        rid = next(self._ids)
        obj["id"] = rid
        d = self._pending[rid] = Deferred()
        self.sendString(encode(obj))
        return d

    def stringReceived(self, data):
        try:
            obj = decode(data)
        except BadJSON:
            self.log.warn("server sent a frame that is not JSON")
            return
        if not isinstance(obj, dict):
            self.log.warn("server sent JSON that is not an object")
            return
        rid = obj.get("id")
        if rid is None:
            self.eventReceived(obj)
            return
        d = self._pending.pop(rid, None)
        if d is None:
            self.log.warn("reply to unknown request {id!r}", id=rid)
        elif obj.get("type") == "error":
            d.errback(errorFromReply(obj))
        else:
            d.callback(obj)

    def lengthLimitExceeded(self, length):
        self.log.warn("server frame of {length} bytes is too large", length=length)
        self.transport.loseConnection()

    def connectionLost(self, reason):
        self.connected = False
        pending, self._pending = self._pending, {}
        for d in pending.values():
            d.errback(ConnectionLost("connection lost before the reply"))
        self.connectionLostCallback(reason)


def _failed(exception):
    d = Deferred()
    d.errback(exception)
    return d
