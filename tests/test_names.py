"""
The name keys of chatroom.names: which names are the same name, which
characters are refused, and the Unicode data they come from.
"""

import pytest

from chatroom import errors
from chatroom.names import CONFUSABLES_VERSION, checkName, confusablesVersion, invisible, nameKeys, sameName, skeleton


def test_confusablesVersionPinned():
    """
    The shipped confusables.txt is the version the code says (a new file
    means looking at what it changes, and at the index of existing names).
    """
    assert confusablesVersion() == CONFUSABLES_VERSION == "13.0.0"


def test_skeletonIsUnicodes():
    """
    UTS #39's own examples: the skeleton maps lookalikes to one prototype.
    """
    assert skeleton("paypal") == skeleton("pаypаl")  # Cyrillic а
    assert skeleton("ℌ") == skeleton("H")
    assert skeleton("rn") == skeleton("m")


@pytest.mark.parametrize("char", [
    "\u034f", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u202a", "\u202e", "\u2060", "\u2066",
    "\u206f", "\ufe00", "\ufe0f", "\u3164", "\uffa0", "\u115f", "\u180b", "\U000e0100", "\u00ad", "\ufeff",
])
def test_invisibleRefused(char):
    """
    Default-ignorable code points (bidi controls among them) are refused
    in new names, wherever they are.
    """
    assert invisible("ab" + char + "c") == char
    with pytest.raises(errors.BadRequest, match="'user'"):
        checkName("user", "ab" + char + "c")


@pytest.mark.parametrize("name", ["张三", "Zhang三", "Пётр7a", "José", "हिन्दी", "user_1.x-y", "한국어", "Ελένη"])
def test_visibleKept(name):
    assert checkName("user", name) == name


def test_keysAreOneOrTwo():
    """
    A lower-case name has one key; one with capitals may have two.
    """
    assert nameKeys("alice") == ("alice",)
    assert len(nameKeys("PayPaI")) == 2
    assert sameName("paypal", "PayPaI")
    assert not sameName("张三", "张山")
