# -*- test-case-name: tests.test_securitylog -*-
"""
Log observers for twistd's C{--logger} option::

    twistd -n --logger chatroom.logs.jsonObserver chatroom ...

writes every log event to standard output as one JSON object per line, for
log shippers (Vector, Fluent Bit, Filebeat, journald with a JSON parser).
"""

import sys

from twisted.logger import FileLogObserver, eventAsJSON, formatEvent


def eventAsJSONLine(event):
    """
    C{event} as Twisted's JSON (L{eventAsJSON}: every field of the event,
    C{log_namespace}, C{log_level}, C{log_time}, C{log_format}...) plus
    C{log_text}, the formatted message, on one line.
    """
    event = dict(event, log_text=formatEvent(event))
    return eventAsJSON(event) + "\n"


def jsonObserver(outFile=None):
    """
    A log observer writing each event as a line of JSON (see
    L{eventAsJSONLine}) to C{outFile}, by default standard output.
    twistd calls it without arguments.

    Unlike L{twisted.logger.jsonFileLogObserver}, records are separated by
    newlines alone (no RS character), which is what line-based shippers
    expect; L{twisted.logger.eventsFromJSONLogFile} reads them all the
    same, with C{recordSeparator=""}.
    """
    return FileLogObserver(sys.stdout if outFile is None else outFile, eventAsJSONLine)
