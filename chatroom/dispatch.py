# -*- test-case-name: tests.test_dispatch -*-
"""
Dispatch of decoded requests to handler methods, by request type.
"""

from inspect import iscoroutine

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from chatroom import errors
from chatroom.messages import REQUESTS, parseRequest, requestId
from chatroom.metrics import NO_METRICS
from chatroom.protocol import encode
from chatroom.session import Rejected


#: The request types served without the storage.
_WITHOUT_STORAGE = frozenset({"ping"})


def handles(requestClass):
    """
    Mark a handler method as the one for C{requestClass}.

    The method is called with the L{Session} and the parsed request, may be
    a coroutine, and returns the C{ok} reply's fields (a dict or C{None}).
    """

    def decorate(method):
        method.handledRequest = requestClass
        return method

    return decorate


class Dispatcher:
    """
    A registry of handlers by request type.  It checks requests in the
    order PROTOCOL.md gives (JSON, type, login, fields, then the handler's
    own errors) and turns every outcome into one encoded reply.
    """

    log = Logger()

    def __init__(self, limiter=None, metrics=NO_METRICS):
        """
        @param limiter: the L{chatroom.limits.Limiter} whose request and
            send rates apply, or C{None} for none.
        @param metrics: the L{chatroom.metrics.Metrics} told every
            request's type, outcome and latency.
        """
        self._handlers = {}
        self.limiter = limiter
        self._measured = metrics.requests()
        #: Whether the storage may be used.  Until it may (while the node
        #: starts, which may mean migrating an earlier release's data),
        #: every request but a ping gets C{unavailable}, which asks the
        #: client to try again: none may write to a half-migrated storage.
        self.storageReady = True

    def addHandler(self, handler):
        """
        Register every method of C{handler} marked with L{handles}.

        @raise ValueError: if a request type already has a handler.
        """
        for attribute in dir(type(handler)):
            requestClass = getattr(getattr(type(handler), attribute), "handledRequest", None)
            if requestClass is None:
                continue
            if requestClass.type in self._handlers:
                raise ValueError("%r already has a handler" % (requestClass.type,))
            self._handlers[requestClass.type] = getattr(handler, attribute)

    def types(self):
        """
        The request types that have handlers.
        """
        return set(self._handlers)

    def dispatch(self, session, obj):
        """
        Handle one decoded object from C{session}.

        @return: the encoded reply, or a Deferred of it.
        """
        rid = wireType = None
        measured = self._measured
        started = measured.started()
        try:
            if not isinstance(obj, dict):
                if isinstance(obj, Rejected):
                    if obj.close:
                        session.byeAfterReply("too_large")
                    raise obj.error
                raise errors.BadRequest("a request must be a JSON object")
            rawId = obj.get("id")
            if rawId is not None:
                rid = requestId(rawId)
                if rid is None:
                    raise errors.BadRequest("field 'id' must be a string of at most 64 characters or an integer")
            limiter = self.limiter
            if limiter is not None:
                # Every request counts, even one that turns out invalid.
                limiter.checkRequest(session)
            wireType = obj.get("type")
            if not isinstance(wireType, str):
                raise errors.BadRequest(
                    "missing field 'type'" if wireType is None else "field 'type' must be a string"
                )
            requestClass = REQUESTS.get(wireType)
            handler = self._handlers.get(wireType)
            if requestClass is None or handler is None:
                raise errors.UnknownType("unknown request type %r" % (wireType[:64],))
            if requestClass.loginRequired and session.user is None:
                raise errors.NotLoggedIn()
            request = parseRequest(requestClass, obj)
            if not self.storageReady and wireType not in _WITHOUT_STORAGE:
                raise errors.Unavailable()
            if limiter is not None and wireType in limiter.sendTypes:
                limiter.checkSend(session.user, session)
            result = handler(session, request)
        except errors.ChatError as e:
            measured.failed(wireType, e.code, started)
            return encode(e.reply(rid))
        except Exception:
            self.log.failure("Handler failed for {type!r}", type=obj.get("type") if isinstance(obj, dict) else None)
            measured.failed(wireType, "internal", started)
            return encode(errors.Internal().reply(rid))
        if iscoroutine(result):
            d = Deferred.fromCoroutine(result)
            return d.addCallbacks(self._ok, self._failed, callbackArgs=(rid, wireType, started),
                                  errbackArgs=(rid, wireType, started))
        return self._ok(result, rid, wireType, started)

    def _ok(self, fields, rid, wireType, started):
        self._measured.ok(wireType, started)
        return _ok(fields, rid)

    def _failed(self, failure, rid, wireType, started):
        if failure.check(errors.ChatError):
            self._measured.failed(wireType, failure.value.code, started)
            return encode(failure.value.reply(rid))
        self.log.failure("Handler failed for {type!r}", failure, type=wireType)
        self._measured.failed(wireType, "internal", started)
        return encode(errors.Internal().reply(rid))


def _ok(fields, rid):
    reply = {"type": "ok"}
    if rid is not None:
        reply["id"] = rid
    if fields:
        reply.update(fields)
    return encode(reply)
