# -*- test-case-name: tests.store.test_crashes -*-
"""
Fault points: the places between the steps of a request that writes to
more than one hash slot.  A test arms one to make the process "die" there
(the request stops with L{Crash} and its later steps never run), then starts
a new node on the same Redis and checks that nothing was lost or shown
twice.  Unarmed, a point costs a set lookup.
"""


class Crash(Exception):
    """
    Raised at an armed fault point: the steps after it never run.
    """


class FaultPoints:
    """
    The armed fault points of a store.
    """

    def __init__(self, *armed):
        self.armed = set(armed)
        self.reached = []

    def __call__(self, name):
        """
        The request has come to C{name}: stop here if it is armed.
        """
        if name in self.armed:
            self.reached.append(name)
            raise Crash(name)


#: The fault points of a store no test has armed.
NONE = FaultPoints()
