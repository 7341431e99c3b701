"""
The web client in a real browser (headless chromium), against a real
server: what needs only protocol 1.0.  Screenshots of the main screens go
to the test's output directory.
"""

import time

from tests.support.browser import BlockingClient


def test_twoBrowsersChatInChinese(web_server, browsers):
    """
    Two people register in two browsers and chat in Chinese with emoji;
    each message shows on both sides, own messages on the right with their
    delivery status, and the unread badge and title count what is unread.
    """
    zhang = browsers()
    li = browsers()
    zhang.load(web_server.url)
    zhang.screenshot("login")
    zhang.login("张三", register=True)
    li.load(web_server.url)
    li.login("李四", register=True)

    zhang.until(lambda: "李四" in zhang.find("#online-list").text, message="李四 online for 张三")
    zhang.openChat("李四")
    zhang.send("你好，李四！🙂")
    zhang.waitText("你好，李四！🙂")
    # Delivered: 李四 is online.
    zhang.until(lambda: zhang.find(".message.mine .status.delivered"), message="delivered status")

    li.until(lambda: li.badge("u:张三") == "1", message="unread badge on 李四's side")
    assert li.driver.title == "(1) chatroom"
    li.screenshot("unread")
    li.openConversation("u:张三")
    li.waitText("你好，李四！🙂")
    li.until(lambda: li.driver.title == "chatroom", message="title without unread once read")
    li.send("收到 👍 一切都好")
    zhang.waitText("收到 👍 一切都好")

    mine = zhang.findAll("#message-list .message.mine .text")
    theirs = zhang.findAll("#message-list .message:not(.mine) .text")
    assert [e.text for e in mine] == ["你好，李四！🙂"]
    assert [e.text for e in theirs] == ["收到 👍 一切都好"]
    # Own messages on the right, others' on the left.
    assert mine[0].location["x"] > theirs[0].location["x"]
    assert zhang.findAll("#message-list .day")
    zhang.screenshot("conversation")

    # A group message unread in the lobby shows its badge too.
    li.openConversation("g:lobby")
    li.send("大家好 👋 今晚一起吃饭吗？🍜")
    zhang.until(lambda: zhang.badge("g:lobby") == "1", message="lobby badge")
    assert zhang.driver.title == "(1) chatroom"
    zhang.screenshot("main")


def test_offlineUserFindsMissedMessages(web_server, browsers, protocol_user):
    """
    A browser user who closed the page finds, after logging in again, the
    messages sent meanwhile, counted unread, in order; once they are read,
    the next login gets nothing pushed again.
    """
    sender = protocol_user("钱七")
    page = browsers()
    page.load(web_server.url)
    page.login("赵六", register=True)
    sender.event(type="presence", user="赵六", status="online")
    page.driver.get("about:blank")  # the tab is closed: 赵六 goes offline
    sender.event(type="presence", user="赵六", status="offline")
    for text in ("第一条 🌙", "第二条 🌟", "第三条 ☀️"):
        assert sender.ok("send", to="赵六", text=text)["status"] == "stored"

    page.load(web_server.url)
    page.login("赵六")
    page.until(lambda: page.badge("u:钱七") == "3", message="three unread from 钱七")
    page.screenshot("missed")
    page.openConversation("u:钱七")
    page.until(lambda: page.texts() == ["第一条 🌙", "第二条 🌟", "第三条 ☀️"], message="missed messages in order")
    page.until(lambda: page.badge("u:钱七") == "", message="badge cleared")

    # The page acknowledged them: another device logging in is pushed
    # nothing.
    time.sleep(0.5)
    other = BlockingClient(web_server.port)
    other.ok("login", user="赵六", password="secret")
    time.sleep(0.5)
    other.ok("ping")
    assert [e for e in other.events if e.get("type") == "message"] == []
    other.close()


def test_browserAndMainPortUserChat(web_server, browsers, protocol_user):
    """
    A browser user and a main-port (protocol) user chat with each other,
    both ways, and in the lobby.
    """
    bot = protocol_user("机器人")
    page = browsers()
    page.load(web_server.url)
    page.login("小明", register=True)
    bot.event(type="presence", user="小明", status="online")

    page.openChat("机器人")
    page.send("你好机器人 🤖")
    event = bot.event(type="message", **{"from": "小明"})
    assert event["text"] == "你好机器人 🤖" and event["to"] == "机器人"

    bot.ok("send", to="小明", text="你好小明，我是机器人 ✅")
    page.waitText("你好小明，我是机器人 ✅")

    bot.ok("group.send", group="lobby", text="大家好 👋")
    page.until(lambda: page.badge("g:lobby") == "1", message="lobby unread")
    page.openConversation("g:lobby")
    page.waitText("大家好 👋")
    assert "机器人" in page.find("#message-list .message .sender").text
    page.send("lobby 里的回复 🎉")
    event = bot.event(type="message", group="lobby")
    assert event["text"] == "lobby 里的回复 🎉"


def test_imeCompositionDoesNotSend(web_server, browsers):
    """
    An Enter that ends an IME composition picks the characters and sends
    nothing; the next Enter sends; Shift+Enter adds a line.
    """
    page = browsers()
    page.load(web_server.url)
    page.login("输入法", register=True)
    page.openConversation("g:lobby")
    box = page.find("#composer-text")
    page.driver.execute_script("""
        const t = arguments[0];
        t.focus();
        t.dispatchEvent(new CompositionEvent('compositionstart', {data: ''}));
        t.value = '中文';
        t.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', code: 'Enter', isComposing: true,
                                                      bubbles: true, cancelable: true}));
        // Safari's order: compositionend first, then the keydown (keyCode 229).
        t.dispatchEvent(new CompositionEvent('compositionend', {data: '中文'}));
        t.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', code: 'Enter', keyCode: 229,
                                                      bubbles: true, cancelable: true}));
    """, box)
    time.sleep(0.5)
    assert page.texts() == []
    assert box.get_attribute("value") == "中文"

    from selenium.webdriver.common.keys import Keys

    box.send_keys(Keys.SHIFT, Keys.ENTER)
    box.send_keys("输入")
    assert box.get_attribute("value") == "中文\n输入"
    assert page.texts() == []
    box.send_keys(Keys.ENTER)
    page.waitText("中文\n输入")
    assert box.get_attribute("value") == ""


def test_messageTextIsNeverHTML(web_server, browsers, protocol_user):
    """
    A message holding HTML is shown literally, and nothing in it runs: the
    text goes in as text, and the policy forbids inline scripts anyway.
    """
    attacker = protocol_user("mallory")
    page = browsers()
    page.load(web_server.url)
    page.login("受害者", register=True)
    payloads = ['<img src=x onerror="window.pwned=1">', "<script>window.pwned=2</script>",
                '<a href="javascript:window.pwned=3">点我</a>']
    for text in payloads:
        attacker.ok("send", to="受害者", text=text)
    page.openConversation("u:mallory")
    page.until(lambda: page.texts() == payloads, message="payloads shown as text")
    assert page.findAll("#message-list img") == []
    assert page.findAll("#message-list script") == []
    assert page.findAll("#message-list a") == []
    assert page.driver.execute_script("return window.pwned") is None
    # Also in the conversation list's preview.
    assert payloads[-1] in page.find('[data-key="u:mallory"] .preview').text
    page.screenshot("xss")


def test_securityHeaders(web_server, browsers):
    """
    The page is served with a Content-Security-Policy that forbids inline
    scripts: an inline script added to the page does not run.
    """
    import urllib.request

    with urllib.request.urlopen(web_server.url) as response:
        policy = response.headers["Content-Security-Policy"]
        assert response.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    page = browsers()
    page.load(web_server.url)
    page.driver.execute_script("""
        const s = document.createElement('script');
        s.textContent = 'window.inlineRan = true';
        document.body.append(s);
    """)
    time.sleep(0.2)
    assert page.driver.execute_script("return window.inlineRan") is None


def test_reconnectsAndSendsWhatWasTypedOnce(web_server, browsers, protocol_user, tmp_path):
    """
    When the server goes away, a banner says so; a message written
    meanwhile waits, and once the server is back the page logs in again by
    itself and sends it, once.
    """
    friend = protocol_user("朋友")
    page = browsers()
    page.load(web_server.url)
    page.login("断线", register=True)
    page.openChat("朋友")
    page.send("断线之前 🔌")
    friend.event(type="message", text="断线之前 🔌")

    web_server.stop()
    page.until(lambda: page.find("#banner").is_displayed(), message="connection banner")
    assert "Connection lost" in page.find("#banner").text
    page.send("断线期间写的 ✉️")
    page.until(lambda: page.find(".message.mine .status.waiting"), message="message waiting")
    page.screenshot("offline")

    web_server.start()
    page.driver.execute_script("window.chatroom.chat.connection.retryNow()")
    page.until(lambda: not page.find("#banner").is_displayed(), timeout=40, message="banner gone after reconnection")
    page.until(lambda: page.find(".message.mine:last-child .status.stored, .message.mine:last-child .status.delivered"),
               message="waiting message sent")
    again = BlockingClient(web_server.port)
    again.ok("login", user="朋友", password="secret")
    history = again.ok("history", **{"with": "断线"})["messages"]
    assert [m["text"] for m in history] == ["断线之前 🔌", "断线期间写的 ✉️"]
    again.close()
    page.screenshot("reconnected")


def test_phoneWidth(web_server, browsers):
    """
    At phone width the list and the conversation take the screen in turn,
    with a way back.
    """
    page = browsers(width=390, height=800)
    page.load(web_server.url)
    page.login("手机", register=True)
    assert page.find("#sidebar").is_displayed()
    assert not page.find("#conversation").is_displayed()
    page.openConversation("g:lobby")
    assert page.find("#conversation").is_displayed() and not page.find("#sidebar").is_displayed()
    page.send("从手机发的 📱")
    page.waitText("从手机发的 📱")
    page.screenshot("phone")
    page.find("#back-button").click()
    page.until(lambda: page.find("#sidebar").is_displayed(), message="back to the list")


def test_rememberMeKeepsOnlyTheName(web_server, browsers):
    """
    "Remember me" keeps the name on the device, nothing else: no password
    or token in storage, and none in the URL.
    """
    page = browsers()
    page.load(web_server.url)
    page.login("记得我", password="很秘密的密码", register=True, remember=True)
    stored = page.driver.execute_script(
        "return Object.fromEntries(Object.keys(localStorage).map(k => [k, localStorage.getItem(k)]))")
    assert stored == {"chatroom.user": "记得我"}
    assert "很秘密" not in page.driver.current_url
    assert page.driver.execute_script("return sessionStorage.length") == 0
    assert "很秘密" not in page.driver.execute_script("return document.cookie")
    page.load(web_server.url)
    assert page.find("#login-user").get_attribute("value") == "记得我"
    assert page.find("#login-password").get_attribute("value") == ""


def test_groupsWithA10Server(web_server, browsers, protocol_user):
    """
    Against a server without the 1.1 group requests, the page still
    joins a group by name, creates one, shows its members and leaves it.
    """
    owner = protocol_user("组长")
    owner.ok("group.create", group="技术讨论")
    page = browsers()
    page.load(web_server.url)
    page.login("组员", register=True)

    page.find("#group-directory-prefix").send_keys("技术讨论")
    page.find("#group-directory-form button").click()
    page.until(lambda: page.driver.execute_script(
        "const b = document.querySelector('#group-directory button'); if (b) b.click(); return !!b;"),
        message="join button")
    page.until(lambda: "技术讨论" in page.find("#conversation-title").text, message="joined group open")
    owner.event(type="group", group="技术讨论", user="组员", event="joined")
    page.send("大家好，我是新来的 🙋")
    assert owner.event(type="message", group="技术讨论")["text"] == "大家好，我是新来的 🙋"

    page.find("#group-panel-button").click()
    page.until(lambda: "组长" in page.find("#group-members").text and "组员" in page.find("#group-members").text,
               message="members listed")
    page.screenshot("group")
    page.find("#group-leave").click()
    owner.event(type="group", group="技术讨论", user="组员", event="left")
    page.until(lambda: not page.findAll('[data-key="g:技术讨论"]'), message="group gone from the list")

    page.find("#group-create-name").send_keys("新的小组")
    page.find("#group-create-form button").click()
    page.until(lambda: "新的小组" in page.find("#conversation-title").text, message="created group open")
    member = BlockingClient(web_server.port)
    member.ok("login", user="组员", password="secret")
    assert "新的小组" in member.ok("group.list")["groups"]
    member.close()


def test_olderMessagesLoadOnScroll(web_server, browsers, protocol_user):
    """
    A long conversation opens at its latest messages; scrolling up loads
    the older ones, in order, down to its beginning.
    """
    sender = protocol_user("话痨")
    reader = protocol_user("读者")
    last = None
    for i in range(120):
        last = sender.ok("send", to="读者", text="第 %03d 条 💬" % (i,))["msg_id"]
    reader.ok("ack", upto=last, **{"with": "话痨"})  # read elsewhere: nothing pushed at login
    page = browsers()
    page.load(web_server.url)
    page.login("读者")
    page.openChat("话痨")
    page.until(lambda: len(page.texts()) == 50, message="the latest 50")
    assert page.texts()[-1] == "第 119 条 💬"
    for _ in range(5):
        page.driver.execute_script("document.getElementById('message-scroller').scrollTop = 0")
        time.sleep(0.3)
        if len(page.texts()) == 120:
            break
    page.until(lambda: len(page.texts()) == 120, message="everything loaded by scrolling")
    assert page.texts() == ["第 %03d 条 💬" % (i,) for i in range(120)]
    page.until(lambda: "beginning" in page.find("#history-status").text, message="the beginning shown")
