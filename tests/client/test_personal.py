"""
The personal-control commands of the terminal client and how it shows a
C{bye}, against a scripted server (see L{tests.client.test_console}).
"""

from tests.client.test_console import loggedIn


def test_block_unblock_blocks():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/block 张三")
    [block] = wire.sent()
    assert block["type"] == "block" and block["user"] == "张三"
    wire.ok(block)
    assert "* you blocked 张三" in screen.take()
    console.lineReceived("/blocks")
    [blocks] = wire.sent()
    wire.ok(blocks, users=["张三", "alice"])
    assert "Blocked: 张三, alice" in screen.take()
    console.lineReceived("/unblock 张三")
    [unblock] = wire.sent()
    assert unblock["type"] == "unblock"
    wire.ok(unblock)
    assert "unblocked 张三" in screen.take()
    console.lineReceived("/block")
    assert wire.sent() == [] and "usage: /block USER" in screen.take()


def test_whois_of_an_unknown_user():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/whois alice")
    [info] = wire.sent()
    wire.error(info, "no_such_user", "no such user")
    assert "no such user" in screen.take()


def test_passwd_asks_twice_hidden():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/passwd")
    assert console.prompt == "current password: " and console.password
    console.lineReceived("旧的")
    assert console.prompt == "new password: " and console.password
    console.lineReceived("新的 🔑")
    assert console.prompt == "new password again: " and console.password
    console.lineReceived("新的 🔑")
    [change] = wire.sent()
    assert change == {"type": "password.change", "id": change["id"], "old": "旧的", "new": "新的 🔑"}
    wire.ok(change)
    text = screen.take()
    assert "password changed" in text and "新的" not in text and "旧的" not in text


def test_passwd_mismatch_sends_nothing():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/passwd")
    for line in ("old", "new1", "new2"):
        console.lineReceived(line)
    assert wire.sent() == []
    assert "differ" in screen.take()


def test_delete_account_needs_typed_confirmation():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/delete-account")
    assert console.password
    console.lineReceived("pw")
    console.lineReceived("yes")
    assert wire.sent() == [] and "not confirmed" in screen.take()
    console.lineReceived("/delete-account")
    console.lineReceived("pw")
    console.lineReceived("delete my account")
    [delete] = wire.sent()
    assert delete["type"] == "account.delete" and delete["password"] == "pw"
    wire.ok(delete)
    assert "account is deleted" in screen.take()


def test_name_and_whois():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/name 鲍勃 (Bob)")
    [profile] = wire.sent()
    assert profile["name"] == "鲍勃 (Bob)"
    wire.ok(profile, name="鲍勃 (Bob)")
    assert "display name is now 鲍勃 (Bob)" in screen.take()
    console.lineReceived("/whois alice")
    [info] = wire.sent()
    wire.ok(info, user="alice", name="Alice 🌸", online=True)
    assert "alice (Alice 🌸): online" in screen.take()


def test_help_lists_the_commands():
    reactor, console, wire, screen = loggedIn()
    console.lineReceived("/help")
    text = screen.take()
    for command in ("/block", "/unblock", "/blocks", "/passwd", "/delete-account", "/name", "/whois"):
        assert command in text


def test_bye_is_shown_readably_and_ends_relogin():
    reactor, console, wire, screen = loggedIn()
    wire.push({"type": "bye", "reason": "password_changed"})
    assert "password was changed on another device" in screen.take()
    assert console.connection.credentials is None
    wire.push({"type": "bye", "reason": "shutdown"})
    assert "shutting down" in screen.take()
    wire.push({"type": "bye", "reason": "新理由"})
    assert "新理由" in screen.take()
