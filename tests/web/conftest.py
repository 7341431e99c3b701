"""
Fixtures of the browser tests: a server with its web port, and browsers
(each with a fresh profile), all stopped at teardown.
"""

import time

import pytest

from tests.support.browser import BlockingClient, WebServer, browserAvailable, startBrowser


@pytest.fixture
def web_server(redis_process, tmp_path):
    """
    A C{twistd chatroom} with its web port, on an empty database.
    """
    redis_process.flush()
    server = WebServer(redis_process, str(tmp_path / "twistd.log"))
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def browsers(tmp_path):
    """
    Open browsers with C{browsers(width=..., height=...)}; each is a
    L{ChatPage}.  Skipped where chromium is not installed.
    """
    if not browserAvailable():
        pytest.skip("chromium, chromium-driver and selenium are needed (apt-get install chromium chromium-driver)")
    opened = []

    def open_(width=1200, height=800):
        profile = tmp_path / ("profile-%d" % (len(opened),))
        profile.mkdir()
        page = ChatPage(startBrowser(str(profile), width, height), tmp_path)
        opened.append(page)
        return page

    yield open_
    for page in opened:
        page.driver.quit()


@pytest.fixture
def protocol_user(web_server):
    """
    Make main-port users: C{protocol_user(name)} registers and logs in.
    """
    clients = []

    def make(name, password="secret"):
        client = BlockingClient(web_server.port)
        client.ok("register", user=name, password=password)
        client.ok("login", user=name, password=password)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


class ChatPage:
    """
    One browser on the web client, with what a user does in it.
    """

    def __init__(self, driver, outputDir):
        self.driver = driver
        self.outputDir = outputDir

    def find(self, css):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def findAll(self, css):
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def until(self, predicate, timeout=10, message="condition"):
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = predicate()
            except Exception:
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError("%s not met within %s s; console: %r" % (message, timeout, self.console()))
            time.sleep(0.05)

    def console(self):
        try:
            return [entry["message"] for entry in self.driver.get_log("browser")]
        except Exception:
            return []

    def load(self, url):
        self.driver.get(url)
        self.until(lambda: self.find("#login-user").is_displayed(), message="login screen")

    def login(self, user, password="secret", register=False, remember=False):
        self.find("#login-user").clear()
        self.find("#login-user").send_keys(user)
        self.find("#login-password").send_keys(password)
        if remember:
            self.find("#login-remember").click()
        self.find("#register-button" if register else "#login-button").click()
        self.until(lambda: self.find("#chat-screen").is_displayed(), message="chat screen after login")
        self.until(lambda: self.find("#me-name").text, message="own name shown")

    def openChat(self, name):
        box = self.find("#new-chat-user")
        box.clear()
        box.send_keys(name)
        self.find("#new-chat-form button").click()
        self.until(lambda: name in self.find("#conversation-title").text, message="conversation with %s open" % (name,))

    def openConversation(self, key):
        # Clicked from JavaScript: the list is redrawn as events come, so a
        # found element may be replaced before a WebDriver click lands.
        self.until(lambda: self.driver.execute_script(
            "const e = document.querySelector(arguments[0]); if (e) e.click(); return !!e;",
            '[data-key="%s"]' % (key,)), message="conversation %s listed" % (key,))
        self.until(lambda: not self.find("#composer-text").get_attribute("disabled"), message="composer enabled")

    def type(self, text):
        self.find("#composer-text").send_keys(text)

    def send(self, text):
        """
        Type C{text} and press Enter (text with non-BMP characters, emoji,
        goes in through JavaScript: chromedriver cannot type them).
        """
        from selenium.webdriver.common.keys import Keys

        box = self.find("#composer-text")
        if any(ord(c) > 0xFFFF for c in text):
            self.driver.execute_script(
                "const t = arguments[0]; t.value = arguments[1];"
                "t.dispatchEvent(new Event('input', {bubbles: true}));", box, text)
        else:
            box.send_keys(text)
        box.send_keys(Keys.ENTER)

    def texts(self):
        """
        The texts of the open conversation's messages, in order.
        """
        return self.driver.execute_script(
            "return [...document.querySelectorAll('#message-list .message .text')].map(e => e.textContent)")

    def waitText(self, text, timeout=10):
        self.until(lambda: text in self.texts(), timeout, message="message %r shown" % (text,))

    def badge(self, key):
        badges = self.findAll('[data-key="%s"] .badge' % (key,))
        return badges[0].text if badges else ""

    def screenshot(self, name):
        path = str(self.outputDir / ("%s.png" % (name,)))
        self.driver.save_screenshot(path)
        return path
