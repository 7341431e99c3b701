# -*- test-case-name: tests.test_names -*-
"""
When two user (or group) names are the same name (PROTOCOL 1.1, "Names").

Names differing only by case, width or compatibility form, by invisible
(default-ignorable) characters, or looking alike under Unicode's
confusables skeleton (UTS #39) are one name for uniqueness.  This module
computes the keys that decide it: L{nameKeys} gives the one or two keys of
a name, and two names are the same name when they share one.  The store
keeps an index of the keys (L{chatroom.store.names}) so that uniqueness is
one lookup per key.

The rules are Unicode's and maintained implementations', not tables of our
own: width and case mapping and the default-ignorable code points come from
PRECIS (RFC 8265, the C{precis-i18n} package), the confusables mapping from
Unicode's C{confusables.txt} (shipped in C{chatroom/unicode/}, see
L{CONFUSABLES_VERSION}), normalisation from the standard library.
"""

import functools
import pkgutil
import unicodedata

from precis_i18n import get_profile

from chatroom.errors import BadRequest

#: The version of Unicode's confusables.txt shipped in chatroom/unicode/.
CONFUSABLES_VERSION = "13.0.0"

_PROFILE = get_profile("UsernameCaseMapped:CaseFold")
_UCD = _PROFILE.base.ucd


def invisible(name):
    """
    The first invisible character of C{name}: a default-ignorable code point
    (which covers the bidi controls, variation selectors, the Hangul fillers
    U+3164 and U+FFA0, zero-width characters...), or C{None}.
    """
    isIgnorable = _UCD.default_ignorable
    for char in name:
        if isIgnorable(ord(char)):
            return char
    return None


def checkName(field, name):
    """
    Refuse a new name holding an invisible character (L{BadRequest} naming
    C{field}); return it.  Names given by register and group.create go
    through this, on top of the 1.0 rule.
    """
    found = invisible(name)
    if found is not None:
        raise BadRequest("field '%s' holds an invisible character (U+%04X)" % (field, ord(found)))
    return name


@functools.lru_cache(maxsize=1)
def _confusables():
    # source code point -> prototype (a string), from Unicode's file.
    table = {}
    text = pkgutil.get_data("chatroom", "unicode/confusables.txt").decode("utf-8-sig")
    for line in text.splitlines():
        data = line.partition("#")[0].strip()
        if not data:
            continue
        source, target = data.split(";")[:2]
        table[int(source.strip(), 16)] = "".join(chr(int(cp, 16)) for cp in target.split())
    return table


def confusablesVersion():
    """
    The version named in the header of the shipped confusables.txt.
    """
    text = pkgutil.get_data("chatroom", "unicode/confusables.txt").decode("utf-8-sig")
    for line in text.splitlines()[:20]:
        if line.startswith("# Version:"):
            return line.split(":", 1)[1].strip()
    return None


def _visible(value):
    isIgnorable = _UCD.default_ignorable
    return "".join(c for c in value if not isIgnorable(ord(c)))


def skeleton(name):
    """
    UTS #39's skeleton of C{name}: NFD, default-ignorable code points
    removed, each character replaced by its confusables prototype, NFD
    again.  Two strings with the same skeleton look alike.
    """
    table = _confusables()
    value = _visible(unicodedata.normalize("NFD", name))
    mapped = "".join(table.get(ord(c), c) for c in value)
    return unicodedata.normalize("NFD", mapped)


def folded(name):
    """
    C{name} as PRECIS's UsernameCaseMapped (RFC 8265, case folding) maps it,
    then in compatibility form (NFKC): width, case and compatibility
    variants of a name are one string.
    """
    value = _PROFILE.width_mapping_rule(name)
    value = _PROFILE.case_mapping_rule(value)
    return unicodedata.normalize("NFKC", value)


def nameKeys(name):
    """
    The keys of C{name} for uniqueness, one or two: the skeleton of its
    folded form (case, width, NFKC, invisible characters and confusables of
    the folded letters), and, when it differs, the same taken from the
    skeleton of the name as written (an upper-case I looks like a
    lower-case l, which folding first would hide: C{PayPaI}).  Two names
    are the same name when they share a key.
    """
    keys = [skeleton(folded(name))]
    asWritten = skeleton(folded(skeleton(unicodedata.normalize("NFKC", _PROFILE.width_mapping_rule(name)))))
    if asWritten != keys[0]:
        keys.append(asWritten)
    return tuple(keys)


def sameName(a, b):
    """
    Whether C{a} and C{b} are the same name for uniqueness.
    """
    return not set(nameKeys(a)).isdisjoint(nameKeys(b))
