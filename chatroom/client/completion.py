# -*- test-case-name: tests.client.test_completion -*-
"""
Tab completion: which words fit where the cursor is.

Kept free of prompt_toolkit so it can be tested on its own;
L{chatroom.client.ui} adapts it.
"""

from chatroom.client.commands import ALIASES, ARGUMENTS, HELP


def _matches(prefix, words):
    folded = prefix.casefold()
    return sorted(w for w in set(words) if w.casefold().startswith(folded) and w != prefix)


def complete(text, users=(), groups=(), asking=None):
    """
    Candidates for the word before the cursor.

    @param text: the line up to the cursor.
    @param asking: what a question being asked wants (C{"user"},
        C{"group"}, C{"conversation"}), or C{None} for an ordinary line.
    @return: C{(word, candidates)}: the word being completed (to be
        replaced) and the full words that could replace it.
    """
    if asking is not None:
        return text, _candidates(asking, text, users, groups)
    if not text.startswith("/"):
        return "", []
    head, space, rest = text.partition(" ")
    if not space:
        return text, ["/" + c for c in _matches(text[1:], HELP)]
    command = ALIASES.get(head[1:].lower(), head[1:].lower())
    words = rest.split(" ")
    position = len(words) - 1
    kinds = ARGUMENTS.get(command, ())
    if position >= len(kinds):
        return words[-1], []
    return words[-1], _candidates(kinds[position], words[-1], users, groups)


def _candidates(kind, word, users, groups):
    if kind == "user":
        return _matches(word, users)
    if kind == "group":
        if word.startswith("#"):
            return ["#" + g for g in _matches(word[1:], groups)]
        return _matches(word, groups)
    if kind == "conversation":
        if word.startswith("#"):
            return ["#" + g for g in _matches(word[1:], groups)]
        return _matches(word, users) + ["#" + g for g in _matches(word, groups)]
    if kind == "command":
        return _matches(word.lstrip("/"), HELP)
    return []
