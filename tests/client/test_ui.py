"""
Tests for L{chatroom.client.ui}: the plain line front-end feeds lines one
at a time, and the prompt_toolkit front-end keeps passwords out of its
history.  (The real terminal is exercised in test_client_e2e.)
"""

from chatroom.client.console import Console
from chatroom.client.ui import PlainUI, _History
from tests.support.client import accept, makeConnection


def plain():
    lines = []
    console = Console(lines.append, serverName="test")
    reactor, connection, _ = makeConnection(listener=console)
    console.attach(connection)
    finished = []
    ui = PlainUI(console, finished=lambda: finished.append(True))
    console.quit = ui.stop
    wire = accept(reactor)
    return reactor, console, ui, wire, lines, finished


def test_lines_wait_for_the_previous_ones_work():
    reactor, console, ui, wire, lines, finished = plain()
    ui.feed("/login bob pw")
    ui.feed("/groups")
    [login] = wire.sent()
    assert login["type"] == "login"
    wire.ok(login, user="bob", name="bob", online=1)
    # The quiet name fetch, then /groups, only now.
    sent = wire.sent()
    assert [s["type"] for s in sent] == ["users", "group.list", "group.list"]


def test_answers_to_questions_are_taken_at_once():
    reactor, console, ui, wire, lines, finished = plain()
    for line in ("1", "bob", "pw", "/groups"):
        ui.feed(line)
    [login] = wire.sent()
    assert login["user"] == "bob" and login["password"] == "pw"


def test_end_of_input_quits_after_the_work(capsys):
    reactor, console, ui, wire, lines, finished = plain()
    ui.feed("/login bob pw")
    ui.endOfInput()
    assert finished == []
    wire.ok(wire.sent()[0], user="bob", name="bob", online=1)
    assert finished == [True]
    assert lines[-1] == "Bye."


def test_end_of_input_drops_an_unanswered_question(capsys):
    reactor, console, ui, wire, lines, finished = plain()
    ui.feed("1")
    assert capsys.readouterr().out == "user name: "
    ui.endOfInput()
    assert "(cancelled)" in lines
    assert finished == [True]


def test_history_never_keeps_passwords():
    console = Console(lambda line: None)
    history = _History(console)
    history.append_string("/who")
    console.ask("password: ", password=True)
    history.append_string("secret")
    assert list(history.get_strings()) == ["/who"]
