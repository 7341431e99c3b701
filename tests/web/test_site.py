"""
Tests for L{chatroom.web.site}: the web client's files, served with their
types and the security headers, and what the package ships.
"""

import fnmatch
import os
import re

import pytest_twisted
from twisted.internet import reactor
from twisted.web.client import Agent, PartialDownloadError, readBody
from twisted.web.http_headers import Headers

from chatroom.web.site import STATIC, contentSecurityPolicy
from tests.support.websocket import listenWeb

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


async def get(port, path, headers=None):
    agent = Agent(reactor)
    response = await agent.request(b"GET", b"http://127.0.0.1:%d%s" % (port, path), Headers(headers or {}))
    try:
        body = await readBody(response)
    except PartialDownloadError as e:
        # A refused upgrade is answered without a length, then closed.
        body = e.response
    return response, body


def header(response, name):
    values = response.headers.getRawHeaders(name)
    return values[0] if values else None


@pytest_twisted.ensureDeferred
async def test_pageWithItsPolicy(chat):
    """
    C{/} is the client's page, with a policy that allows only the site's
    own scripts (no inline script or handler) and its own WebSocket.
    """
    port = await listenWeb(chat)
    response, body = await get(port, b"/")
    assert response.code == 200
    assert header(response, "content-type") == "text/html; charset=utf-8"
    policy = header(response, "content-security-policy")
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "ws://127.0.0.1:%d" % (port,) in policy
    assert header(response, "x-content-type-options") == "nosniff"
    assert header(response, "referrer-policy") == "no-referrer"
    assert b'<script type="module" src="app.js"></script>' in body


@pytest_twisted.ensureDeferred
async def test_filesAndTypes(chat):
    """
    The scripts are served as JavaScript (modules need it), the style
    sheet as CSS; a missing file is a 404 and directories are not listed.
    """
    port = await listenWeb(chat)
    for path, kind in ((b"/app.js", "text/javascript"), (b"/chat.js", "text/javascript"),
                       (b"/app.css", "text/css"), (b"/icon.svg", "image/svg+xml")):
        response, body = await get(port, path)
        assert response.code == 200 and body
        assert header(response, "content-type").startswith(kind)
        assert header(response, "content-security-policy")
    response, _ = await get(port, b"/no-such-file.js")
    assert response.code == 404
    response, _ = await get(port, b"/../setup.py")
    assert response.code in (400, 404)


@pytest_twisted.ensureDeferred
async def test_webSocketPathWithoutUpgrade(chat):
    """
    A plain GET of C{/ws} is refused, and the server goes on.
    """
    port = await listenWeb(chat)
    response, _ = await get(port, b"/ws")
    assert response.code in (400, 426), response.code
    response, _ = await get(port, b"/")
    assert response.code == 200


def test_policyHost():
    """
    The Host header goes into the policy only when it is a host name or
    address with an optional port.
    """
    assert b"ws://chat.example:8080 wss://chat.example:8080" in contentSecurityPolicy(b"chat.example:8080")
    assert b"ws://[::1]:8080" in contentSecurityPolicy(b"[::1]:8080")
    for bad in (b"a b", b"x;script-src *", b"evil\r\nX-Y: z", None, b""):
        policy = contentSecurityPolicy(bad)
        assert b"ws:" not in policy and b"\n" not in policy


def test_noInlineScriptOrHandler():
    """
    The page has no inline script, event handler attribute or style
    attribute (the policy would block them), and the scripts never put
    text in as HTML.
    """
    html = open(os.path.join(STATIC, "index.html"), encoding="utf-8").read()
    assert re.findall(r"<script\b[^>]*>", html) == ['<script type="module" src="app.js">']
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert not re.search(r"\sstyle\s*=", html)
    for name in os.listdir(STATIC):
        if name.endswith(".js"):
            source = open(os.path.join(STATIC, name), encoding="utf-8").read()
            source = re.sub(r"^\s*//.*$", "", source, flags=re.M)
            assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function", source), name


def test_packageDataHoldsEveryFile():
    """
    Every file of the client is named by C{package_data} in setup.py, so
    that a non-editable C{pip install .} ships it.
    """
    setup = open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read()
    patterns = re.search(r'"chatroom\.web": \[([^\]]*)\]', setup).group(1)
    patterns = re.findall(r'"static/([^"]+)"', patterns)
    for name in os.listdir(STATIC):
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
