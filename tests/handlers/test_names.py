"""
Names under the 1.1 rules, through the protocol on both stores: a name that
is the same name as a taken one (case, width, NFKC, invisible characters,
lookalikes in any script) gets C{name_taken}; the exact name C{user_exists};
login stays exact; mixed-script names stay valid.
"""

import pytest
import pytest_twisted

pytestmark = pytest.mark.stores("memory", "redis")

from chatroom.names import invisible
from chatroom.store.names import collisions
from tests.support.wire import WireError

#: (taken name, a name that is the same name): at least 30, many scripts.
LOOKALIKES = [
    # Latin vs Cyrillic, one letter or all.
    ("alice", "аlice"), ("paypal", "раураl"), ("scope", "ѕсоре"), ("apple", "аррlе"), ("xoxo", "хохо"),
    # Latin vs Greek.
    ("omega", "οmega"), ("kate", "Κate"), ("nike", "Νike"), ("beta", "Βeta"),
    # Case (Unicode case folding), in several scripts.
    ("bob", "BOB"), ("Straße", "STRASSE"), ("ΣΊΣΥΦΟΣ", "σίσυφος"), ("Пётр", "пётр"), ("Über", "über"),
    # Upper-case I against l, and digits against letters.
    ("paypal", "PayPaI"), ("love", "1ove"), ("bool", "b00l"),
    # Fullwidth forms (CJK width) and NFKC compatibility forms.
    ("bob", "ｂｏｂ"), ("Tom", "Ｔｏｍ"), ("abc123", "ａｂｃ１２３"), ("file", "ﬁle"), ("カタカナ", "ｶﾀｶﾅ"),
    ("džep", "ǆep"), ("ij", "ĳ"),
    # Lookalikes across CJK and other scripts.
    ("工人", "エ人"), ("口", "ロ"), ("rn", "m"),
    # Invisible characters in an existing name (made before 1.1, when they
    # were allowed): the same name as without them.
    ("张\ufe0f三", "张三"), ("a\u034fb", "ab"), ("ㅤkim", "kim"),
    # Mixed script and case together.
    ("Admin", "аdmin"), ("root", "ROOТ"), ("Zhang三", "zhang三"),
]


async def refused(code, d):
    with pytest.raises(WireError) as info:
        await d
    assert info.value.code == code, info.value.reply
    return info.value.reply


def test_enoughLookalikes():
    assert len(LOOKALIKES) >= 30


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("taken, lookalike", LOOKALIKES)
async def test_lookalikeRegistrationRefused(chat, taken, lookalike):
    """
    A name that is the same name as a registered one gets C{name_taken};
    the first account is untouched and logs in exactly.
    """
    c = await chat.client()
    if invisible(taken):
        # Refused as a new name since 1.1: made as an older release did.
        await chat.service.store.accounts.create(taken, await chat.hasher.hash("pw 1"), taken)
    else:
        await c.request("register", user=taken, password="pw 1")
    reply = await refused("name_taken", c.request("register", user=lookalike, password="pw 2"))
    assert reply["message"]
    # Nothing was made: the lookalike cannot log in, the first account can.
    await refused("auth_failed", c.request("login", user=lookalike, password="pw 2"))
    assert (await c.request("login", user=taken, password="pw 1"))["user"] == taken


@pytest_twisted.ensureDeferred
async def test_lookalikeGroupRefused(chat):
    """
    C{group.create} follows the same rule, in its own namespace: a user name
    does not take a group name.
    """
    c = await chat.user("alice")
    await c.request("group.create", group="读书会")
    await c.request("group.create", group="chess")
    await refused("name_taken", c.request("group.create", group="сhess"))
    await refused("name_taken", c.request("group.create", group="CHESS"))
    await refused("group_exists", c.request("group.create", group="chess"))
    await refused("name_taken", c.request("group.create", group="LOBBY"))
    await refused("name_taken", c.request("group.create", group="lоbby"))
    # A group may look like a user: different namespaces.
    assert (await c.request("group.create", group="аlice"))["group"] == "аlice"


@pytest_twisted.ensureDeferred
async def test_exactNameIsUserExists(chat):
    c = await chat.client()
    await c.request("register", user="Alice", password="pw")
    await refused("user_exists", c.request("register", user="Alice", password="pw"))
    await refused("name_taken", c.request("register", user="alice", password="pw"))


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("name", ["张三", "Zhang三", "Пётр7a", "한국어", "Ελένη", "José"])
async def test_mixedScriptsStayValid(chat, name):
    c = await chat.client()
    assert (await c.request("register", user=name, password="pw"))["user"] == name
    reply = await c.request("login", user=name, password="pw")
    assert reply["user"] == name


@pytest_twisted.ensureDeferred
async def test_differentNamesBothRegister(chat):
    """
    Names that merely resemble each other in meaning are not lookalikes.
    """
    c = await chat.client()
    for name in ("张三", "张山", "bob", "rob", "Пётр", "Петр"):
        await c.request("register", user=name, password="pw")


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("name", ["a\u200bb", "\u202eevil", "ab\u034f", "x\ufe0f", "\u3164", "ab\uffa0", "a\u2066b"])
async def test_invisibleRefused(chat, name):
    c = await chat.client()
    reply = await refused("bad_request", c.request("register", user=name, password="pw"))
    assert "'user'" in reply["message"]
    u = await chat.user("owner")
    await refused("bad_request", u.request("group.create", group=name))


@pytest_twisted.ensureDeferred
async def test_loginIsExact(chat):
    """
    Login does no folding: the name as registered (after NFC) only.
    """
    c = await chat.client()
    await c.request("register", user="Alice", password="pw")
    await refused("auth_failed", c.request("login", user="alice", password="pw"))
    await refused("auth_failed", c.request("login", user="Аlice", password="pw"))
    await c.request("login", user="Alice", password="pw")


@pytest_twisted.ensureDeferred
async def test_existingCollisionsKeepWorking(chat):
    """
    Two accounts made before the rules (written straight to the store) whose
    names are now the same name both keep logging in, and the report lists
    them.
    """
    hashed = await chat.hasher.hash("pw")
    for user in ("carol", "САROL"):
        # As an older release would have: no claims.
        await _createUnclaimed(chat, user, hashed)
    for user in ("carol", "САROL"):
        c = await chat.client()
        assert (await c.request("login", user=user, password="pw"))["user"] == user
    assert collisions(["carol", "САROL", "dave"]) == [["carol", "САROL"]]


async def _createUnclaimed(chat, user, hashed):
    store = chat.service.store
    names = store.accounts.names
    claim = names.claim

    async def noClaim(name):
        return None

    names.claim = noClaim
    try:
        await store.accounts.create(user, hashed, user)
    finally:
        names.claim = claim


@pytest_twisted.ensureDeferred
async def test_reportListsCollisions(chat, store):
    """
    What C{python -m chatroom.store.names_report} prints: the existing names
    that are the same name, users and groups apart.
    """
    if store != "redis":
        pytest.skip("the report reads Redis")
    from chatroom.store.names_report import report

    hashed = await chat.hasher.hash("pw")
    for user in ("dave", "DAVE", "Dave", "eve"):
        await _createUnclaimed(chat, user, hashed)
    assert await report(chat.service.store.link) == {"users": [["DAVE", "Dave", "dave"]], "groups": []}
