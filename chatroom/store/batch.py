# -*- test-case-name: tests.store.test_batch -*-
"""
Group commit: the calls of one Lua script made during one reactor turn, run
as a single script call.
"""

from twisted.internet import defer

from chatroom.errors import Unavailable
from chatroom.store.scripts import scriptError


class ScriptBatch:
    """
    Collects calls of a batch script and runs them together on the next
    turn of the reactor, so that the per-command cost (in txredisapi and in
    Redis) is paid once per turn rather than once per request.

    The script gets C{fixed} followed by every call's arguments (each call
    the same number) in C{ARGV}, and returns one string per call:
    C{'1|field|field...'}, or C{'0|error code'} for a call that failed on
    its own (flat strings: txredisapi converts every element of a reply in
    Python).  Each call's fields are split here, once, and given to
    C{parse}, which makes the value the call's Deferred fires with.

    @cvar maxBatch: the most calls run by one script call, which bounds how
        long one call keeps Redis busy.
    """

    maxBatch = 256

    def __init__(self, link, reactor, script, parse, fixed=()):
        self.link = link
        self.parse = parse
        self.reactor = reactor
        self.script = script
        self.fixed = list(fixed)
        self._pending = []

    def __call__(self, *args):
        """
        Run the script for C{args}; a Deferred of this call's value.
        """
        if not self.link.connected:
            # Fail at once rather than wait for the turn: Redis is away.
            return defer.fail(Unavailable())
        d = defer.Deferred()
        if not self._pending:
            self.reactor.callLater(0, self._flush)
        self._pending.append((d, args))
        return d

    def _flush(self):
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), self.maxBatch):
            chunk = pending[start:start + self.maxBatch]
            argv = list(self.fixed)
            for _, args in chunk:
                argv.extend(args)
            self.link.run(self.script, [], argv).addCallbacks(
                self._done, self._failed, callbackArgs=(chunk,), errbackArgs=(chunk,)
            )

    def _done(self, results, chunk):
        parse = self.parse
        for (d, _), result in zip(chunk, results):
            fields = result.split("|")
            if fields[0] == "1":
                d.callback(parse(fields))
            else:
                d.errback(scriptError(fields[1]))

    def _failed(self, failure, chunk):
        for d, _ in chunk:
            d.errback(failure)
