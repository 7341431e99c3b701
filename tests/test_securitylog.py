"""
The security log: each kind of event, as a real server logs it, in the
documented format with the client's address; the fail2ban filter in
C{contrib/fail2ban/chatroom.conf} run over those lines (with a regex
translated here, and with C{fail2ban-regex} itself when installed); and
the JSON observer for twistd's C{--logger}.
"""

import configparser
import io
import json
import os
import re
import shutil
import subprocess

import pytest
import pytest_twisted
from twisted.internet.task import Clock
from twisted.logger import LogLevel, Logger, eventsFromJSONLogFile, formatEvent, formatEventAsClassicLogText

from chatroom import securitylog
from chatroom.limits import Limits, Rate
from chatroom.logs import jsonObserver
from chatroom.server import ChatFactory
from tests.support.fakes import makeService
from tests.support.wire import WireError
from tests.test_limits import BufferingTransport

FILTER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "contrib", "fail2ban", "chatroom.conf")


@pytest.fixture
def events():
    """
    The security log's events while the test runs.
    """
    from twisted.logger import globalLogPublisher

    captured = []

    def observe(event):
        if event.get("log_namespace") == "chatroom.securitylog":
            captured.append(event)

    globalLogPublisher.addObserver(observe)
    yield captured
    globalLogPublisher.removeObserver(observe)


def texts(events, kind=None):
    """
    The formatted messages of C{events} (of C{kind} only, if given).
    """
    return [formatEvent(e) for e in events if kind is None or e["event_kind"] == kind]


async def codes(client, requests):
    """
    The reply types (or error codes) of C{requests}, sent in turn.
    """
    result = []
    for request in requests:
        try:
            await client.request(*request[:1], **request[1])
            result.append("ok")
        except WireError as e:
            result.append(e.code)
    return result


# Each kind, from a real server.


@pytest_twisted.ensureDeferred
async def test_loginFailed(make_chat, events):
    """
    A wrong password and an unknown user give the same line, with the
    address and the user name, never the password.
    """
    chat = await make_chat()
    client = await chat.client()
    await client.request("register", user="alice", password="right one")
    assert await codes(client, [
        ("login", {"user": "alice", "password": "s3cret-guess"}),
        ("login", {"user": "nobody", "password": "s3cret-guess"}),
        ("login", {"user": "alice", "password": "right one"}),
    ]) == ["auth_failed", "auth_failed", "ok"]
    assert texts(events) == [
        "chatroom: login failed from 127.0.0.1 for user 'alice'",
        "chatroom: login failed from 127.0.0.1 for user 'nobody'",
    ]
    for event in events:
        assert event["event_kind"] == "login_failed"
        assert event["address"] == "127.0.0.1"
        assert event["log_level"] == LogLevel.warn
        assert "s3cret" not in repr(event) and "right one" not in repr(event)


@pytest_twisted.ensureDeferred
async def test_loginAndRegisterThrottled(make_chat, events):
    """
    Logins and registrations refused by the throttle are logged with the
    address, the user name and the wait.
    """
    chat = await make_chat(limits=Limits(
        loginFailures=Rate(2, 0.001), registrations=Rate(2, 0.001), limitLoopback=True))
    client = await chat.client()
    assert await codes(client, [("login", {"user": "bob", "password": "x"})] * 3) == [
        "auth_failed", "auth_failed", "rate_limited"]
    assert await codes(client, [("register", {"user": "u%d" % (i,), "password": "pw"}) for i in range(3)]) == [
        "ok", "ok", "rate_limited"]
    [throttled] = [e for e in events if e["event_kind"] == "login_throttled"]
    assert throttled["retry_after"] > 0
    assert formatEvent(throttled) == (
        "chatroom: login throttled from 127.0.0.1 for user 'bob': retry after %d s" % (throttled["retry_after"],))
    [registration] = [e for e in events if e["event_kind"] == "register_throttled"]
    assert formatEvent(registration) == (
        "chatroom: registration throttled from 127.0.0.1 for user 'u2': retry after %d s"
        % (registration["retry_after"],))
    assert (registration["address"], registration["user"]) == ("127.0.0.1", "u2")


@pytest_twisted.ensureDeferred
async def test_rateLimitedOncePerInterval(make_chat, events):
    """
    A connection flooding requests (or messages) is logged once, not once
    per refused request.
    """
    chat = await make_chat(limits=Limits(requests=Rate(2, 0.001)))
    client = await chat.client()
    assert await codes(client, [("ping", {})] * 6) == ["ok", "ok"] + ["rate_limited"] * 4
    [line] = texts(events)
    assert re.fullmatch(
        r"chatroom: rate limited from 127\.0\.0\.1 for user None: requests, 1 refused since the last line, "
        r"retry after \d+ s", line), line
    assert events[0]["limit"] == "requests"


@pytest_twisted.ensureDeferred
async def test_sendsRateLimited(make_chat, events):
    """
    A user over the message rate is logged with the limit C{sends}.
    """
    chat = await make_chat(limits=Limits(sends=Rate(1, 0.001)))
    alice = await chat.user("alice")
    await chat.user("bob")
    assert await codes(alice, [("send", {"to": "bob", "text": "hi"})] * 2) == ["ok", "rate_limited"]
    [event] = events
    assert (event["event_kind"], event["limit"], event["user"], event["address"]) == (
        "rate_limited", "sends", "alice", "127.0.0.1")


def test_rateLimitedCountsWhatItDidNotLog(events):
    """
    Within L{securitylog.RATE_LOG_INTERVAL} of a line, refusals are only
    counted; the next line after it says how many there were.
    """

    class Session:
        user = "alice"

    session, clock = Session(), Clock()
    for _ in range(5):
        securitylog.rateLimited(session, "192.0.2.7", "requests", 1, clock.seconds())
        clock.advance(1)
    clock.advance(securitylog.RATE_LOG_INTERVAL)
    securitylog.rateLimited(session, "192.0.2.7", "sends", 2, clock.seconds())
    assert [e["refused"] for e in events] == [1, 5]
    assert texts(events)[-1] == (
        "chatroom: rate limited from 192.0.2.7 for user 'alice': sends, 5 refused since the last line, "
        "retry after 2 s")


@pytest_twisted.ensureDeferred
async def test_connectionRefused(make_chat, events):
    """
    A connection over a connection limit is logged with the option that
    refused it.
    """
    chat = await make_chat(limits=Limits(maxPerAddress=1, limitLoopback=True))
    await chat.client()
    refused = await chat.client()
    await chat.until(lambda: not refused.connected)
    assert texts(events) == ["chatroom: connection refused from 127.0.0.1: --max-per-address 1 reached"]
    assert events[0]["option"] == "max-per-address"


@pytest_twisted.ensureDeferred
async def test_loginTimeout(make_chat, events):
    """
    A connection closed for not logging in in time is logged.
    """
    chat = await make_chat(limits=Limits(loginTimeout=1))
    client = await chat.client()
    await chat.until(lambda: not client.connected, timeout=5)
    assert texts(events) == ["chatroom: login timeout from 127.0.0.1: not logged in within 1 s"]


def test_slowConsumer(events):
    """
    A connection closed for leaving too much unread is logged with its
    address and user.
    """
    service = makeService(limits=Limits(maxBuffer=1000))
    protocol = ChatFactory(service.sessions, service.maxFrame).buildProtocol(None)
    transport = BufferingTransport()
    protocol.makeConnection(transport)
    protocol.session.user = "alice"
    while not transport.disconnected:
        protocol.session.sendPayload(b'{"type": "message", "text": "' + b"x" * 200 + b'"}')
    assert texts(events) == [
        "chatroom: slow consumer closed from %s for user 'alice': over 1000 bytes unread"
        % (transport.getPeer().host,)]


def test_noAddress(events):
    """
    A connection without an IP address (a unix socket) is logged as C{-}.
    """
    securitylog.loginFailed(None, "alice")
    assert texts(events) == ["chatroom: login failed from - for user 'alice'"]


# The fail2ban filter.


def failregexes():
    """
    The C{failregex} lines of the fail2ban filter.
    """
    parser = configparser.ConfigParser()
    parser.read(FILTER)
    return [line.strip() for line in parser["Definition"]["failregex"].splitlines() if line.strip()]


def hostOf(line):
    """
    The host the filter finds in C{line}, or C{None}: C{<HOST>} becomes a
    group of non-space characters, as fail2ban's own (an IPv4 or IPv6
    address or a name) matches here.
    """
    for regex in failregexes():
        match = re.search(regex.replace("<HOST>", r"(?P<host>\S+)"), line)
        if match:
            return match.group("host")
    return None


async def logLines(make_chat, events):
    """
    Classic log lines of every kind, from a real server (and from the
    functions for what a test server does not easily do), as twistd writes
    them.
    """
    chat = await make_chat(limits=Limits(
        loginFailures=Rate(1, 0.001), registrations=Rate(1, 0.001), requests=Rate(50, 0.001),
        maxPerAddress=3, limitLoopback=True))
    client = await chat.client()
    await codes(client, [("login", {"user": "alice", "password": "guess"})] * 2)
    await codes(client, [("register", {"user": "new.user-1", "password": "pw"})] * 2)
    await codes(client, [("ping", {})] * 50)
    await chat.client()
    await chat.client()
    await chat.client()
    await chat.until(lambda: any(e["event_kind"] == "connection_refused" for e in events))
    securitylog.loginTimeout("127.0.0.1", 30)
    securitylog.slowConsumer("127.0.0.1", "alice", 1048576)
    securitylog.userBanned("127.0.0.1", "mallory", "root")
    securitylog.userUnbanned(None, "mallory", "chatroom-admin:root")
    securitylog.loginFailed("2001:db8::7", "bob")
    return {e["event_kind"]: formatEventAsClassicLogText(e) for e in reversed(events)}, \
        [formatEventAsClassicLogText(e) for e in events]


@pytest_twisted.ensureDeferred
async def test_filterMatchesRealLines(make_chat, events):
    """
    The filter finds the address in the lines of failed and throttled
    logins and registrations, and in nothing else.
    """
    byKind, lines = await logLines(make_chat, events)
    assert set(byKind) == set(securitylog.KINDS)
    for kind in ("login_failed", "login_throttled", "register_throttled"):
        assert hostOf(byKind[kind]) == "127.0.0.1", byKind[kind]
    assert hostOf(lines[-1]) == "2001:db8::7"
    for kind in ("rate_limited", "connection_refused", "login_timeout", "slow_consumer", "user_banned",
                 "user_unbanned"):
        assert hostOf(byKind[kind]) is None, byKind[kind]
    # Under --workers, a worker's lines come relayed by the main process.
    relayed = "2026-01-02T03:04:05+0000 [chatroom.workers#info] [worker 2] " + byKind["login_failed"]
    assert hostOf(relayed) == "127.0.0.1"


@pytest.mark.skipif(shutil.which("fail2ban-regex") is None, reason="fail2ban-regex is not installed")
@pytest_twisted.ensureDeferred
async def test_fail2banRegex(make_chat, events, tmp_path):
    """
    fail2ban itself, on a log file of real lines, finds the failed and
    throttled logins and registrations, with their addresses.
    """
    byKind, lines = await logLines(make_chat, events)
    log = tmp_path / "chatroom.log"
    log.write_text("".join(lines))
    out = subprocess.run(
        ["fail2ban-regex", "--out", "ip", str(log), FILTER],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.split()
    expected = [
        "127.0.0.1" for e in events if e["event_kind"] in ("login_failed", "login_throttled", "register_throttled")
    ]
    expected[-1] = "2001:db8::7"
    assert out == expected
    assert len(out) >= 4


@pytest_twisted.ensureDeferred
async def test_serverBans(make_chat, events):
    """
    A server admin's ban and unban are logged with the admin's address,
    the user banned and the admin; the banned user's refused logins are
    not failures.
    """
    chat = await make_chat(admins={"管理员"})
    root = await chat.user("管理员")
    await chat.user("捣蛋鬼")
    await root.request("admin.ban", user="捣蛋鬼")
    client = await chat.client()
    assert await codes(client, [("login", {"user": "捣蛋鬼", "password": "secret"})]) == ["forbidden"]
    await root.request("admin.unban", user="捣蛋鬼")
    assert texts(events) == [
        "chatroom: user banned from 127.0.0.1 for user '捣蛋鬼': by '管理员'",
        "chatroom: user unbanned from 127.0.0.1 for user '捣蛋鬼': by '管理员'",
    ]
    assert [(e["event_kind"], e["address"], e["user"], e["by"]) for e in events] == [
        ("user_banned", "127.0.0.1", "捣蛋鬼", "管理员"), ("user_unbanned", "127.0.0.1", "捣蛋鬼", "管理员")]


# The JSON observer.


@pytest_twisted.ensureDeferred
async def test_jsonLineOfAFailedLogin(make_chat):
    """
    With C{--logger chatroom.logs.jsonObserver}, a failed login is one
    line of JSON with the documented fields.
    """
    from twisted.logger import globalLogPublisher

    out = io.StringIO()
    observer = jsonObserver(out)
    globalLogPublisher.addObserver(observer)
    try:
        chat = await make_chat()
        client = await chat.client()
        await codes(client, [("login", {"user": "alice", "password": "not logged"})])
    finally:
        globalLogPublisher.removeObserver(observer)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    [record] = [r for r in records if r.get("event_kind") == "login_failed"]
    assert record["address"] == "127.0.0.1"
    assert record["user"] == "alice"
    assert record["log_namespace"] == "chatroom.securitylog"
    assert record["log_level"]["name"] == "warn"
    assert record["log_text"] == "chatroom: login failed from 127.0.0.1 for user 'alice'"
    assert isinstance(record["log_time"], float)
    assert "not logged" not in out.getvalue()


def test_jsonLinesReadBack():
    """
    Twisted reads the lines back as events.
    """
    out = io.StringIO()
    observer = jsonObserver(out)
    Logger(observer=observer).warn("chatroom: {x}", x=1, event_kind="test")
    out.seek(0)
    [event] = eventsFromJSONLogFile(out)
    assert (event["x"], event["event_kind"], formatEvent(event)) == (1, "test", "chatroom: 1")


def test_jsonObserverForTwistd():
    """
    twistd calls the factory without arguments and needs an
    L{ILogObserver}.
    """
    from twisted.logger import ILogObserver

    assert ILogObserver.providedBy(jsonObserver())
