"""
Tests for L{chatroom.client.console}, L{chatroom.client.commands} and
L{chatroom.client.menu}: typed lines in, requests and printed lines out,
against a scripted server on a L{StringTransport}.
"""

from chatroom.client.console import Console
from chatroom.client.conversation import Conversation
from tests.support.client import accept, makeConnection


class Screen:
    def __init__(self):
        self.lines = []

    def __call__(self, line):
        self.lines.append(line)

    def take(self):
        lines, self.lines = self.lines, []
        return "\n".join(lines)


def started():
    screen = Screen()
    console = Console(screen, serverName="test-server")
    quits = []
    console.quit = lambda: quits.append(True)
    reactor, connection, _ = makeConnection(listener=console)
    console.attach(connection)
    wire = accept(reactor)
    console.quits = quits
    return reactor, console, wire, screen


def loggedIn(user="bob"):
    reactor, console, wire, screen = started()
    console.lineReceived("/login " + user)
    console.lineReceived("pw")
    [login] = wire.sent()
    wire.ok(login, user=user, name=user, online=2)
    users, groups = wire.sent()
    assert users["type"] == "users" and groups["type"] == "group.list"
    wire.ok(users, users=[{"user": user, "name": user}, {"user": "alice", "name": "Alice"}], cursor=None, total=2)
    wire.ok(groups, groups=["lobby", "大厅"])
    screen.take()
    return reactor, console, wire, screen


def test_menu_before_login():
    reactor, console, wire, screen = started()
    console.menu.show()
    text = screen.take()
    assert "1. log in" in text and "2. register" in text and "3. exit" in text
    assert console.prompt == "chatroom> "


def test_menu_choice_out_of_range():
    reactor, console, wire, screen = started()
    console.lineReceived("9")
    assert "type a number from 1 to 3" in screen.take()
    assert wire.sent() == []


def test_menu_login_asks_user_and_hidden_password():
    reactor, console, wire, screen = started()
    console.lineReceived("1")
    assert console.prompt == "user name: " and not console.password
    console.lineReceived("小明")
    assert console.prompt == "password for 小明: " and console.password
    console.lineReceived("秘密")
    [login] = wire.sent()
    assert login["user"] == "小明" and login["password"] == "秘密"
    wire.ok(login, user="小明", name="小明", online=3)
    text = screen.take()
    assert "* logged in as 小明 (3 online)" in text
    assert "1. show online users" in text and "4. read offline messages" in text
    # The password is never printed.
    assert "秘密" not in text


def test_menu_register_then_login():
    reactor, console, wire, screen = started()
    console.lineReceived("2")
    console.lineReceived("alice")
    console.lineReceived("pw")
    console.lineReceived("pw")
    [register] = wire.sent()
    assert register == {"type": "register", "user": "alice", "password": "pw", "id": 1}
    wire.ok(register, user="alice")
    [login] = wire.sent()
    assert login["type"] == "login"
    wire.ok(login, user="alice", name="alice", online=1)
    assert "* registered alice" in screen.take()


def test_register_passwords_must_match():
    reactor, console, wire, screen = started()
    console.lineReceived("/register alice Alice Liddell")
    console.lineReceived("pw1")
    console.lineReceived("pw2")
    assert wire.sent() == []
    assert "passwords differ" in screen.take()


def test_register_with_display_name():
    reactor, console, wire, screen = started()
    console.lineReceived("/register alice Alice Liddell")
    console.lineReceived("pw")
    console.lineReceived("pw")
    assert wire.sent()[0]["name"] == "Alice Liddell"


def test_bad_name_is_refused_locally():
    reactor, console, wire, screen = started()
    console.lineReceived("/login bad!name")
    assert "bad_request" in screen.take()
    assert wire.sent() == []


def test_failed_login_is_explained():
    reactor, console, wire, screen = started()
    console.lineReceived("/login bob pw")
    wire.error(wire.sent()[0], "auth_failed", "wrong user name or password")
    assert "! wrong user name or password (auth_failed)" in screen.take()


def test_ctrl_c_cancels_a_question():
    reactor, console, wire, screen = started()
    console.lineReceived("1")
    assert console.interrupt()
    assert "(cancelled)" in screen.take()
    assert console.prompt == "chatroom> "
    assert not console.interrupt()


def test_commands_need_login():
    reactor, console, wire, screen = started()
    for line in ("/who", "/msg alice hi", "/join x", "/groups", "/chat alice"):
        console.lineReceived(line)
    assert screen.take().count("log in first") == 5
    assert wire.sent() == []


def test_unknown_command_and_help():
    reactor, console, wire, screen = started()
    console.lineReceived("/frobnicate")
    assert "unknown command /frobnicate" in screen.take()
    console.lineReceived("/help")
    text = screen.take()
    for command in ("/register", "/login", "/who", "/msg", "/join", "/leave", "/groups",
                    "/members", "/g ", "/chat", "/history", "/quit", "/help"):
        assert command in text
    console.lineReceived("/help msg")
    assert screen.take().startswith("/msg USER TEXT")


def test_who_is_paged():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/who")
    [users] = wire.sent()
    assert users["limit"] == 20 and "cursor" not in users
    wire.ok(users, users=[{"user": "李雷", "name": "Li Lei"}, {"user": "bob", "name": "bob"}], cursor="c2", total=25)
    text = screen.take()
    assert "Online now (25):" in text and "李雷" in text and "Li Lei" in text and "/who more" in text
    console.lineReceived("/who more")
    [more] = wire.sent()
    assert more["cursor"] == "c2"
    wire.ok(more, users=[{"user": "zed", "name": "zed"}], cursor=None, total=25)
    assert "/who more" not in screen.take()
    console.lineReceived("/who more")
    assert "no more users" in screen.take()


def test_msg_sends_without_changing_conversation():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/msg alice 你好 世界")
    [send] = wire.sent()
    assert send["to"] == "alice" and send["text"] == "你好 世界" and send["cid"]
    wire.ok(send, msg_id="1-1", ts=1, status="stored")
    assert "alice is offline" in screen.take()
    assert console.conversation is None


def test_group_message():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/g #大厅 大家好")
    [send] = wire.sent()
    assert send["type"] == "group.send" and send["group"] == "大厅" and send["text"] == "大家好"


def test_chat_mode_sends_plain_lines():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/chat alice")
    assert console.prompt == "alice> "
    [history] = wire.sent()
    assert history["type"] == "history" and history["with"] == "alice" and history["limit"] == 10
    wire.ok(history, messages=[{"msg_id": "1-1", "from": "alice", "to": "bob", "text": "earlier", "ts": 1}], more=False)
    assert "<alice> earlier" in screen.take()
    console.lineReceived("1")
    [send] = wire.sent()
    assert send["type"] == "send" and send["to"] == "alice" and send["text"] == "1"
    console.lineReceived("/chat")
    assert console.conversation is None and console.prompt == "chatroom> "


def test_chat_with_group():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/chat #lobby")
    assert console.prompt == "#lobby> "
    assert wire.sent()[0]["group"] == "lobby"
    console.lineReceived("hello everyone")
    assert wire.sent()[0]["type"] == "group.send"


def test_menu_group_chat_defaults_and_joins():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("2")
    assert console.prompt.startswith("group (") and console.completing == "group"
    console.lineReceived("新组")
    [join] = wire.sent()
    assert join == {"type": "group.join", "group": "新组", "id": join["id"]}
    wire.error(join, "no_such_group")
    [create] = wire.sent()
    assert create["type"] == "group.create"
    wire.ok(create, group="新组")
    assert console.conversation == Conversation(group="新组")
    assert "* you created #新组" in screen.take()


def test_menu_user_chat():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("3")
    assert console.completing == "user"
    console.lineReceived("alice")
    assert console.conversation == Conversation(peer="alice")


def test_leave_current_group_ends_the_conversation():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/chat #lobby")
    wire.sent()
    console.lineReceived("/leave lobby")
    [leave] = wire.sent()
    wire.ok(leave, group="lobby")
    assert console.conversation is None
    assert "lobby" not in console.groups


def test_groups_and_members():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/groups")
    wire.ok(wire.sent()[0], groups=["lobby", "dev"], detail=[
        {"group": "lobby", "title": "", "role": "member", "visibility": "public"},
        {"group": "dev", "title": "开发 🛠", "role": "owner", "visibility": "private"}])
    text = screen.take()
    assert "#lobby  member  public" in text and "#dev    owner   private  开发 🛠" in text
    console.lineReceived("/members dev")
    wire.ok(wire.sent()[0], members=[{"user": "alice", "online": True, "role": "owner"},
                                     {"user": "carol", "online": False, "role": "member"}], cursor=None, total=2)
    text = screen.take()
    assert "Members of #dev (2; 1 of these online)" in text and "alice  owner  online" in text


def test_history_paging():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/history #lobby 2")
    [first] = wire.sent()
    assert first["group"] == "lobby" and first["limit"] == 2 and "before" not in first
    wire.ok(first, messages=[
        {"msg_id": "3-1", "from": "alice", "group": "lobby", "text": "c", "ts": 3},
        {"msg_id": "4-1", "from": "bob", "group": "lobby", "text": "d", "ts": 4},
    ], more=True)
    assert "/history #lobby more" in screen.take()
    console.lineReceived("/history more")
    [older] = wire.sent()
    assert older["before"] == "3-1" and older["group"] == "lobby"
    wire.ok(older, messages=[{"msg_id": "1-1", "from": "alice", "group": "lobby", "text": "a", "ts": 1}], more=False)
    console.lineReceived("/history more")
    assert "no earlier messages" in screen.take()


def test_incoming_message_and_presence_are_printed():
    reactor, console, wire, screen = loggedIn()
    wire.push({"type": "message", "msg_id": "1-1", "from": "alice", "to": "bob", "text": "嗨", "ts": 1})
    wire.push({"type": "message", "msg_id": "1-2", "from": "carol", "group": "lobby", "text": "hey", "ts": 1})
    wire.push({"type": "presence", "user": "dave", "status": "online"})
    wire.push({"type": "group", "group": "lobby", "user": "erin", "event": "joined"})
    lines = screen.take().splitlines()
    assert lines[0].endswith("<alice> 嗨")
    assert lines[1].endswith("#lobby <carol> hey")
    assert lines[2].endswith("* dave is online")
    assert lines[3].endswith("* erin joined #lobby")
    assert {"alice", "carol", "dave", "erin"} <= console.users


def test_missed_messages_shown_grouped_and_rereadable():
    reactor, console, wire, screen = loggedIn()
    senders = [("alice", {"to": "bob"}), ("carol", {"group": "lobby"}), ("alice", {"to": "bob"})]
    for i, (sender, where) in enumerate(senders):
        event = dict(where, type="message", msg_id="%d-0" % i, ts=i, text="m%d" % i, offline=True)
        event["from"] = sender
        wire.push(event)
    reactor.advance(1)
    text = screen.take()
    assert "3 missed messages in 2 conversations" in text
    assert "--- alice (2 unread) ---" in text and "--- #lobby (1 unread) ---" in text
    assert text.index("m0") < text.index("m2") < text.index("#lobby (1")
    reactor.advance(1)
    acks = wire.sent()
    assert sorted((a.get("with") or "#" + a["group"], a["upto"]) for a in acks) == [("#lobby", "1-0"), ("alice", "2-0")]
    console.lineReceived("4")
    assert "3 missed messages" in screen.take()


def test_disconnect_queue_and_resend():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/chat alice")
    wire.sent()
    wire.lose()
    assert "connection to test-server lost; reconnecting" in screen.take()
    assert console.prompt == "(offline) alice> "
    console.lineReceived("while away")
    assert "will be sent when the connection is back" in screen.take()
    reactor.advance(1)
    wire = accept(reactor)
    [login] = wire.sent()
    wire.ok(login, user="bob", name="bob", online=1)
    text = screen.take()
    assert "* reconnected to test-server" in text and "* logged in again as bob" in text
    assert "sending 1 message typed while disconnected" in text
    sent = [o for o in wire.sent() if o["type"] == "send"]
    assert [s["text"] for s in sent] == ["while away"]
    wire.ok(sent[0], msg_id="2-1", ts=2, status="delivered")
    assert "(sent to alice: while away)" in screen.take()
    assert console.prompt == "alice> "


def test_cannot_reach_server_is_reported():
    from tests.support.client import refuse

    screen = Screen()
    console = Console(screen, serverName="nowhere:1")
    reactor, connection, _ = makeConnection(listener=console)
    console.attach(connection)
    refuse(reactor)
    assert "cannot reach nowhere:1; retrying in 1 s" in screen.take()
    assert console.prompt.startswith("(offline)")


def test_not_connected_command_is_explained():
    reactor, console, wire, screen = loggedIn()
    wire.lose()
    screen.take()
    console.lineReceived("/groups")
    assert screen.take() == ""
    reactor.advance(10)
    assert "not connected to test-server" in screen.take()


def test_quit():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/quit")
    assert console.quits == [True]
    assert "Bye." in screen.take()


def test_quit_twice_says_bye_once():
    """
    Piped input that ends after a /quit asks to quit again (end of input);
    the client says goodbye once.
    """
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/quit")
    console.lineReceived("/quit")
    assert console.quits == [True]
    assert screen.take().count("Bye.") == 1


def test_menu_exit():
    reactor, console, wire, screen = started()
    console.lineReceived("3")
    assert console.quits == [True]


def test_quit_waits_for_messages_on_their_way():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/msg alice last words")
    [send] = wire.sent()
    console.lineReceived("/quit")
    assert console.quits == []
    assert "(sending 1 message first)" in screen.take()
    wire.ok(send, msg_id="1-1", ts=1, status="delivered")
    assert console.quits == [True]


def test_quit_gives_up_on_messages_after_a_while():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/msg alice no answer")
    console.lineReceived("/quit")
    reactor.advance(5)
    assert console.quits == [True]
    assert "! 1 message could not be sent" in screen.take()


def test_quit_while_disconnected_tells_what_is_lost():
    reactor, console, wire, screen = loggedIn()
    wire.lose()
    console.lineReceived("/msg alice never sent")
    console.lineReceived("/quit")
    assert console.quits == [True]
    assert "! 1 message could not be sent" in screen.take()


def test_chat_with_nobody_goes_back():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/chat alice")
    wire.ok(wire.sent()[0], messages=[], more=False)
    console.lineReceived("/chat nobody")
    wire.error(wire.sent()[0], "no_such_user", "no such user")
    assert console.conversation == Conversation(peer="alice")
    assert "! nobody: no such user" in screen.take()
    console.lineReceived("/chat #secret")
    wire.error(wire.sent()[0], "not_member", "you are not a member of that group")
    assert "(/join secret first)" in screen.take()
    assert console.prompt == "alice> "


def test_logout_is_quiet_about_the_close():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/logout")
    wire.ok(wire.sent()[0])
    wire.lose()
    reactor.advance(0)
    wire = accept(reactor)
    text = screen.take()
    assert "* logged out" in text and "1. log in" in text
    assert "lost" not in text and "reconnected" not in text
    assert console.prompt == "chatroom> "
