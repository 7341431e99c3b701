# -*- test-case-name: tests.handlers.test_typing -*-
"""
What was seen within the last few seconds: how C{typing} repeats are
dropped, by the handler of the node that takes the request and by every
node that writes the event to connections.
"""

#: Seconds within which a repeated C{typing} (same user, same
#: conversation) is dropped.
TYPING_REPEAT = 2.0


class Repeats:
    """
    Keys seen within the last C{window} seconds, by a clock's C{seconds()}.
    Bounded: past C{most} keys, the stale ones are swept.
    """

    def __init__(self, clock, window=TYPING_REPEAT, most=10_000):
        self.clock = clock
        self.window = window
        self.most = most
        self._last = {}

    def recent(self, key):
        """
        Whether C{key} was marked within the window.
        """
        last = self._last.get(key)
        return last is not None and self.clock.seconds() - last < self.window

    def mark(self, key):
        """
        Mark C{key} as seen now.
        """
        now = self.clock.seconds()
        if len(self._last) >= self.most:
            window = self.window
            self._last = {k: t for k, t in self._last.items() if now - t < window}
        self._last[key] = now

    def seen(self, key):
        """
        Whether C{key} was marked within the window; if not, mark it now.
        """
        if self.recent(key):
            return True
        self.mark(key)
        return False
