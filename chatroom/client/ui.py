# -*- test-case-name: tests.client.test_ui -*-
"""
The terminal: read lines, print what the console says.

L{PromptUI} uses prompt_toolkit on the asyncio loop the reactor runs on:
output printed under C{patch_stdout} appears above the line being typed, so
a message arriving mid-sentence never corrupts it, and the line editor
knows that Chinese characters take two columns.  L{PlainUI} reads plain
lines (stdin not a terminal, or C{--plain}): for scripts and bots.
"""

import asyncio
import sys

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import Completer, Completion
from prompt_toolkit.filters import Condition
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.patch_stdout import patch_stdout
from twisted.internet import stdio
from twisted.logger import Logger
from twisted.protocols.basic import LineOnlyReceiver

from chatroom.client.completion import complete


class ChatCompleter(Completer):
    """
    prompt_toolkit's face of L{chatroom.client.completion.complete}.
    """

    def __init__(self, console):
        self.console = console

    def get_completions(self, document, complete_event):
        if self.console.password:
            return
        c = self.console
        word, candidates = complete(document.text_before_cursor, c.users, c.groups, c.completing)
        for candidate in candidates:
            yield Completion(candidate, start_position=-len(word))


class _History(InMemoryHistory):
    """
    Line history that never keeps an answer typed at a password prompt.
    """

    def __init__(self, console):
        super().__init__()
        self.console = console

    def append_string(self, string):
        if not self.console.password:
            super().append_string(string)


class PromptUI:
    """
    An interactive terminal with line editing, history and completion.

    @ivar finished: called once the terminal is restored after L{stop}.
    """

    log = Logger()

    def __init__(self, console, finished):
        self.console = console
        self.finished = finished
        self.stopping = False
        self.session = PromptSession(
            message=lambda: console.prompt,
            is_password=Condition(lambda: console.password),
            completer=ChatCompleter(console),
            complete_while_typing=False,
            history=_History(console),
            # Who is typing, unread counts: gone when they no longer hold.
            bottom_toolbar=lambda: console.activity.status() or None,
        )
        self.session.default_buffer.on_text_changed += lambda buffer: console.activity.typed(buffer.text)
        console.changed = self.redraw

    def out(self, line):
        """
        Print a line above the prompt.
        """
        print(line, flush=True)

    def redraw(self):
        """
        Redraw the prompt (its text may have changed).
        """
        app = self.session.app
        if app.is_running:
            app.invalidate()

    def start(self):
        """
        Start reading lines (on the running asyncio loop).
        """
        task = asyncio.ensure_future(self.run())
        task.add_done_callback(self._ended)

    def _ended(self, task):
        if not task.cancelled() and task.exception() is not None:
            print("chatroom-client: the terminal failed: %r" % (task.exception(),), file=sys.stderr)

    async def run(self):
        """
        Read lines until L{stop}; the console handles each.
        """
        try:
            with patch_stdout():
                while not self.stopping:
                    try:
                        line = await self.session.prompt_async()
                    except KeyboardInterrupt:
                        # Ctrl-C drops a question, or just the line typed.
                        if not self.console.interrupt():
                            self.out("(Ctrl-D or /quit leaves)")
                        continue
                    except EOFError:
                        self.console.lineReceived("/quit")
                        break
                    if self.stopping or line is None:
                        break
                    self.console.lineReceived(line)
        except Exception:
            self.log.failure("terminal failed")
            raise
        finally:
            self.finished()

    def stop(self):
        """
        Stop reading; L{finished} is called once the terminal is restored.
        """
        self.stopping = True
        app = self.session.app
        if app.is_running and not app.future.done():
            app.exit()


class _Lines(LineOnlyReceiver):
    delimiter = b"\n"
    MAX_LENGTH = 1024 * 1024

    def __init__(self, ui):
        self.ui = ui

    def lineReceived(self, line):
        self.ui.feed(line.decode("utf-8", "replace").rstrip("\r"))

    def connectionLost(self, reason):
        self.ui.endOfInput()


class PlainUI:
    """
    Plain lines in, plain lines out: no editing, prompts only for
    questions.

    Lines are taken one at a time: the next is handled once the work of
    the previous one is done (or it is the answer to a question), so a
    script can pipe in C{/login}, then commands, then messages.  The end of
    input quits, after the work still going on.
    """

    def __init__(self, console, finished, reactor=None):
        self.console = console
        self.finished = finished
        self.reactor = reactor
        self.stopping = False
        self.lastPrompt = None
        self.lines = []
        self.busy = set()
        self.ended = False
        self.quitting = False
        self._pumping = False
        console.changed = self.redraw

    def out(self, line):
        """
        Print a line.
        """
        print(line, flush=True)

    def redraw(self):
        """
        Show a question's prompt once, when it is asked; a question may
        be answered by a line already read.
        """
        question = self.console.question
        if question and question != self.lastPrompt:
            sys.stdout.write(question)
            sys.stdout.flush()
        self.lastPrompt = question
        self._pump()

    def start(self):
        """
        Read standard input until it ends or L{stop}.
        """
        stdio.StandardIO(_Lines(self), reactor=self.reactor)

    def feed(self, line):
        """
        A line was read.
        """
        self.lines.append(line)
        self._pump()

    def endOfInput(self):
        """
        Standard input ended.
        """
        self.ended = True
        self._pump()

    def _pump(self):
        if self._pumping or self.stopping:
            return
        self._pumping = True
        try:
            while not self.stopping:
                if self.lines and (not self.busy or self.console.question is not None):
                    self._handle(self.lines.pop(0))
                elif self.ended and not self.lines and not self.quitting:
                    if self.console.question is not None:
                        # Nothing will ever answer it.
                        self.console.interrupt()
                    elif not self.busy:
                        self.quitting = True
                        self._handle("/quit")
                    else:
                        break
                else:
                    break
        finally:
            self._pumping = False

    def _handle(self, line):
        d = self.console.lineReceived(line)
        if not d.called:
            self.busy.add(d)
            d.addBoth(self._done, d)

    def _done(self, result, d):
        self.busy.discard(d)
        self._pump()
        return result

    def stop(self):
        """
        Stop reading and finish.
        """
        if not self.stopping:
            self.stopping = True
            self.finished()
