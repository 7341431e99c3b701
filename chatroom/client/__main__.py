"""
chatroom-client: chat with a chatroom server from a terminal.

Run C{chatroom-client --help} (or C{python -m chatroom.client --help}).

The reactor runs on an asyncio event loop (Twisted's asyncioreactor) so that
prompt_toolkit, which is asyncio-native, and Twisted share one thread and
one loop.
"""

import asyncio
import sys

from chatroom.client import options


def _installReactor():
    """
    Install Twisted's asyncio reactor on a new event loop (before anything
    imports the global reactor).
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    from twisted.internet import asyncioreactor

    asyncioreactor.install(loop)
    from twisted.internet import reactor

    return reactor


def _startLogging(path):
    from twisted.logger import globalLogBeginner, textFileLogObserver

    globalLogBeginner.beginLoggingTo(
        [textFileLogObserver(open(path, "a", encoding="utf-8"))], redirectStandardIO=False
    )


def main(argv=None):
    """
    The console script.
    """
    config = options.parse(sys.argv[1:] if argv is None else argv)
    reactor = _installReactor()
    if config["log"]:
        _startLogging(config["log"])

    from chatroom.client.connection import ChatConnection
    from chatroom.client.console import Console
    from chatroom.client.ui import PlainUI, PromptUI

    interactive = not config["plain"] and sys.stdin.isatty() and sys.stdout.isatty()
    console = Console(out=print, serverName=config.serverName)
    if interactive:
        ui = PromptUI(console, finished=reactor.stop)
    else:
        ui = PlainUI(console, finished=reactor.stop, reactor=reactor)
    console.out = ui.out
    connection = ChatConnection(options.endpoint(reactor, config), reactor, console)
    console.attach(connection)

    stopping = []

    def quit():
        if stopping:
            return
        stopping.append(True)
        d = connection.stop()
        d.addBoth(lambda _: ui.stop())
        # Never hang on the way out, whatever the connection does.
        reactor.callLater(3, ui.stop)

    console.quit = quit

    def start():
        console.out("chatroom-client: connecting to %s (/help lists the commands)" % (config.serverName,))
        connection.start()
        console.menu.show()
        ui.start()

    reactor.callWhenRunning(start)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
