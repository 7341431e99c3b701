"""
The web client in a real browser against a server speaking protocol 1.1:
typing, read state, unread counts from C{conversations}, retraction, the
group directory and moderation.  (The 1.0 features are in
L{tests.web.test_browser}.)
"""

import time

import pytest

from tests.support.browser import BlockingClient


@pytest.fixture(autouse=True)
def needs11(web_server):
    """
    Skip where the server does not speak 1.1 yet (a branch without it).
    """
    client = BlockingClient(web_server.port)
    try:
        client.ok("register", user="探针", password="secret")
        client.ok("login", user="探针", password="secret")
        reply = client.request("conversations")
    finally:
        client.close()
    if reply.get("code") == "unknown_type":
        pytest.skip("the server does not speak protocol 1.1 (no conversations)")


def twoUsers(web_server, browsers, first="张三", second="李四"):
    a, b = browsers(), browsers()
    a.load(web_server.url)
    a.login(first, register=True)
    b.load(web_server.url)
    b.login(second, register=True)
    return a, b


def test_typingIndicator(web_server, browsers):
    """
    Typing in a conversation shows "… is typing" on the other side, and
    it goes away once the message comes.
    """
    a, b = twoUsers(web_server, browsers)
    a.openChat("李四")
    b.openChat("张三")
    a.type("正在输入")
    b.until(lambda: "张三 is typing" in b.find("#typing").text, message="typing shown")
    b.screenshot("typing")
    a.send("，好了 ✍️")
    b.waitText("正在输入，好了 ✍️")
    b.until(lambda: b.find("#typing").text == "", message="typing gone with the message")


def test_readStatus(web_server, browsers):
    """
    A message shows delivered, then read once the recipient opens the
    conversation (their read receipts on, the default).
    """
    a, b = twoUsers(web_server, browsers)
    a.openChat("李四")
    a.send("看到了吗？👀")
    a.until(lambda: a.find(".message.mine .status.delivered"), message="delivered")
    b.until(lambda: b.badge("u:张三") == "1", message="unread on the other side")
    b.openConversation("u:张三")
    a.until(lambda: a.find(".message.mine .status.read"), message="read status")
    a.screenshot("read")


def test_unreadCountsFromConversations(web_server, browsers, protocol_user):
    """
    After a login the badges are the server's unread counts
    (C{conversations}), for direct and group conversations; reading on
    one device clears them on another.
    """
    sender = protocol_user("发件人")
    one = browsers()
    one.load(web_server.url)
    one.login("收件人", register=True)
    one.driver.get("about:blank")
    sender.event(type="presence", user="收件人", status="offline")
    for i in range(4):
        sender.ok("send", to="收件人", text="第%d条 📨" % (i,))
    for i in range(2):
        sender.ok("group.send", group="lobby", text="群消息 %d 📢" % (i,))

    one.load(web_server.url)
    one.login("收件人")
    two = browsers()
    two.load(web_server.url)
    two.login("收件人")
    for page in (one, two):
        page.until(lambda: page.badge("u:发件人") == "4" and page.badge("g:lobby") == "2",
                   message="unread counts from conversations")
        assert page.driver.title == "(6) chatroom"
    one.openConversation("u:发件人")
    two.until(lambda: two.badge("u:发件人") == "", message="read on the other device clears the badge")
    assert two.badge("g:lobby") == "2"
    assert two.driver.title == "(2) chatroom"


def test_retract(web_server, browsers):
    """
    A retracted message shows as retracted on both sides, without its text.
    """
    a, b = twoUsers(web_server, browsers)
    a.openChat("李四")
    a.send("发错了 🙈")
    b.until(lambda: b.badge("u:张三") == "1", message="message arrived")
    b.openConversation("u:张三")
    b.waitText("发错了 🙈")
    a.until(lambda: a.find(".message.mine[data-msg-id] .retract"), message="retract button")
    a.driver.execute_script("document.querySelector('.message.mine .retract').click()")
    for page in (a, b):
        page.until(lambda: page.findAll(".message .text.retracted"), message="shown retracted")
        assert "发错了 🙈" not in page.texts()


def test_groupDirectoryAndJoin(web_server, browsers, protocol_user):
    """
    The directory lists public groups with their titles and member counts;
    joining one opens it.
    """
    owner = protocol_user("群主")
    owner.ok("group.create", group="读书会", title="每周读一本书 📚")
    page = browsers()
    page.load(web_server.url)
    page.login("读者", register=True)
    page.find("#group-directory-prefix").send_keys("读")
    page.find("#group-directory-form button").click()
    page.until(lambda: "每周读一本书 📚" in page.find("#group-directory").text, message="directory entry")
    page.driver.execute_script("document.querySelector('#group-directory button').click()")
    page.until(lambda: "读书会" in page.find("#conversation-title").text, message="joined group open")
    owner.event(type="group", group="读书会", user="读者", event="joined")


def test_moderation(web_server, browsers, protocol_user):
    """
    The owner creates a private group in the page, adds a member, makes
    them admin then member again, and kicks them: the members list shows
    the roles, and the kicked user's page loses the group.
    """
    member = protocol_user("成员")
    victim = browsers()
    victim.load(web_server.url)
    victim.login("被踢的", register=True)
    owner = browsers()
    owner.load(web_server.url)
    owner.login("管理员", register=True)

    owner.find("#group-create-name").send_keys("私密小组")
    owner.driver.execute_script("document.getElementById('group-create-visibility').value = 'private'")
    owner.find("#group-create-form button").click()
    owner.until(lambda: "私密小组" in owner.find("#conversation-title").text, message="group open")
    owner.find("#group-panel-button").click()
    owner.until(lambda: "owner" in owner.find("#group-members").text, message="owner role listed")
    assert "private" in owner.find("#group-info").text

    for name in ("成员", "被踢的"):
        box = owner.find("#group-add-user")
        box.send_keys(name)
        owner.find("#group-add-form button").click()
        owner.until(lambda: name in owner.find("#group-members").text, message="%s added" % (name,))
    member.event(type="group", group="私密小组", user="成员", event="added")
    victim.until(lambda: victim.findAll('[data-key="g:私密小组"]'), message="added group listed")

    def click(label):
        owner.until(lambda: owner.driver.execute_script(
            "const b = document.querySelector(`[aria-label=\"${arguments[0]}\"]`); if (b) b.click(); return !!b;",
            label), message="button %s" % (label,))

    click("Make 成员 an admin")
    owner.until(lambda: "admin" in owner.find("#group-members").text, message="admin role shown")
    assert member.ok("group.members", group="私密小组")["members"]
    owner.screenshot("moderation")
    click("Make 成员 a member")
    click("Kick 被踢的")
    owner.until(lambda: "被踢的" not in owner.find("#group-members").text, message="kicked user gone from the list")
    victim.until(lambda: not victim.findAll('[data-key="g:私密小组"]'), message="the group left the kicked user's list")
    reply = BlockingClient(web_server.port)
    reply.ok("login", user="被踢的", password="secret")
    assert "私密小组" not in reply.ok("group.list")["groups"]
    reply.close()
    time.sleep(0.2)
