"""
Tests for L{chatroom.client.completion} and its prompt_toolkit adapter.
"""

from prompt_toolkit.document import Document

from chatroom.client.completion import complete
from chatroom.client.console import Console
from chatroom.client.ui import ChatCompleter

USERS = {"alice", "alan", "小明", "小红"}
GROUPS = {"lobby", "大厅", "dev"}


def test_command_names():
    assert {"/chat", "/g", "/groups", "/kick", "/directory", "/delgroup"} <= set(complete("/")[1])
    assert {"/block", "/blocks", "/delete-account", "/passwd", "/whois"} <= set(complete("/")[1])
    assert complete("/gr") == ("/gr", ["/groups"])
    assert complete("/de") == ("/de", ["/delete-account", "/delgroup", "/deop"])
    assert complete("/h") == ("/h", ["/help", "/history"])


def test_user_argument():
    assert complete("/msg al", USERS, GROUPS) == ("al", ["alan", "alice"])
    assert complete("/msg 小", USERS, GROUPS) == ("小", ["小明", "小红"])
    # Case does not matter.
    assert complete("/msg AL", USERS, GROUPS) == ("AL", ["alan", "alice"])


def test_group_argument():
    assert complete("/join l", USERS, GROUPS) == ("l", ["lobby"])
    assert complete("/g #大", USERS, GROUPS) == ("#大", ["#大厅"])


def test_group_commands_complete_the_group_then_the_user():
    assert complete("/kick #大", USERS, GROUPS) == ("#大", ["#大厅"])
    assert complete("/kick #大厅 小", USERS, GROUPS) == ("小", ["小明", "小红"])
    # Talking to a group, the user comes first.
    assert complete("/op 小", USERS, GROUPS) == ("小", ["小明", "小红"])
    assert complete("/delgroup d", USERS, GROUPS) == ("d", ["dev"])
    assert complete("/members #l", USERS, GROUPS) == ("#l", ["#lobby"])


def test_conversation_argument_offers_users_and_groups():
    assert complete("/chat ", {"a"}, {"g"}) == ("", ["a", "#g"])
    assert complete("/chat #", USERS, GROUPS) == ("#", ["#dev", "#lobby", "#大厅"])


def test_text_is_not_completed():
    assert complete("/msg alice hel", USERS, GROUPS) == ("hel", [])
    assert complete("hello al", USERS, GROUPS) == ("", [])


def test_aliases():
    assert complete("/m al", USERS, GROUPS)[1] == ["alan", "alice"]


def test_question_answer():
    assert complete("al", USERS, GROUPS, asking="user") == ("al", ["alan", "alice"])
    assert complete("d", USERS, GROUPS, asking="group") == ("d", ["dev"])


def test_prompt_toolkit_adapter():
    console = Console(lambda line: None)
    console.users.update(USERS)
    completer = ChatCompleter(console)
    completions = list(completer.get_completions(Document("/msg 小"), None))
    assert [c.text for c in completions] == ["小明", "小红"]
    assert all(c.start_position == -1 for c in completions)


def test_no_completion_of_passwords():
    console = Console(lambda line: None)
    console.users.update(USERS)
    console.ask("password: ", password=True)
    assert list(ChatCompleter(console).get_completions(Document("al"), None)) == []
