# -*- test-case-name: tests.test_repeats -*-
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
    Kept in the order they were marked, so the stale ones are dropped from
    the front as new ones come; never more than C{most} (the oldest go
    first).
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
        now, last = self.clock.seconds(), self._last
        last.pop(key, None)
        last[key] = now
        stale = now - self.window
        while last:
            oldest = next(iter(last))
            if last[oldest] > stale and len(last) <= self.most:
                break
            del last[oldest]

    def seen(self, key):
        """
        Whether C{key} was marked within the window; if not, mark it now.
        """
        if self.recent(key):
            return True
        self.mark(key)
        return False
