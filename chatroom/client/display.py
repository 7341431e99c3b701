# -*- test-case-name: tests.client.test_display -*-
"""
How the client writes messages, presence, missed-message summaries and
tables: plain functions from protocol objects to lines of text.
"""

import re
import time

from wcwidth import wcswidth

# C0 and C1 controls but tab and newline: another user's text must not be
# able to move the cursor, clear the screen or retitle the terminal.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text):
    """
    Make untrusted text safe to print: control characters become U+FFFD.
    """
    return _CONTROL.sub("\ufffd", str(text))


def width(text):
    """
    The number of terminal columns C{text} takes (Chinese characters take
    two).
    """
    w = wcswidth(text)
    # wcswidth gives -1 for strings with non-printable characters.
    return len(text) if w < 0 else w


def pad(text, columns):
    """
    C{text} followed by spaces up to C{columns} terminal columns.
    """
    return text + " " * max(0, columns - width(text))


def stamp(ts, now=None):
    """
    A message time: C{HH:MM} today, with the date before it otherwise.

    @param ts: milliseconds since the epoch, as the server sends it.
    """
    if not isinstance(ts, (int, float)) or isinstance(ts, bool):
        return "--:--"
    now = time.time() if now is None else now
    when = time.localtime(ts / 1000.0)
    if time.localtime(now)[:3] == when[:3]:
        return time.strftime("%H:%M", when)
    return time.strftime("%Y-%m-%d %H:%M", when)


def _body(prefix, text):
    # Continuation lines of a multi-line message line up under its first.
    lines = clean(text).split("\n")
    indent = " " * width(prefix)
    return "\n".join([prefix + lines[0]] + [indent + line for line in lines[1:]])


def message(conversation, event, me=None, now=None):
    """
    One message: C{[12:01] <alice> hi}, C{[12:01] #lobby <alice> hi}, or
    C{[12:01] <me → bob> hi} for one I sent from another device.
    """
    sender = clean(event.get("from", "?"))
    if conversation.group is not None:
        who = "%s <%s> " % (clean(conversation.label), sender)
    elif sender == me:
        who = "<%s → %s> " % (sender, clean(conversation.peer))
    else:
        who = "<%s> " % (sender,)
    text = "(retracted)" if event.get("retracted") else event.get("text", "")
    return _body("[%s] %s" % (stamp(event.get("ts"), now), who), text)


def notice(text, now=None):
    """
    C{[12:03] * text}: something that happened now.
    """
    return "[%s] * %s" % (stamp(_nowMs(now), now), text)


def conversations(entries, me=None, now=None):
    """
    The conversation list (C{/inbox}): one line each, the name, the unread
    count and the newest message.
    """
    rows = []
    for entry in entries:
        label = "#" + entry["group"] if entry.get("group") else entry.get("with", "?")
        unread = entry.get("unread") or 0
        head = pad(clean(label), 14) + pad("%s unread" % ("1000+" if unread >= 1000 else unread), 13)
        last = entry.get("last")
        if isinstance(last, dict):
            sender = clean(last.get("from", "?"))
            text = "(retracted)" if last.get("retracted") else clean(last.get("text", "")).replace("\n", " ")
            head += "[%s] <%s> %s" % (stamp(last.get("ts"), now), sender, text[:60])
        rows.append(("  " + head).rstrip())
    return rows


def presence(event, now=None):
    """
    C{[12:03] * alice is online}.
    """
    status = "online" if event.get("status") == "online" else "offline"
    return "[%s] * %s is %s" % (stamp(_nowMs(now), now), clean(event.get("user", "?")), status)


def groupChange(event, now=None):
    """
    C{[12:03] * alice joined #lobby}, C{[12:03] * 李四 was added to #项目组
    by 张三}: one line for every kind of C{group} event.
    """
    kind = event.get("event")
    fields = {"user": clean(event.get("user", "?")), "group": clean(event.get("group", "?")),
              "by": clean(event.get("by", "?"))}
    if kind == "role":
        role = event.get("role")
        fields["role"] = {"owner": "the owner", "admin": "an admin"}.get(role, "a plain member")
        line = "%(user)s is now %(role)s of #%(group)s (by %(by)s)"
    elif kind == "updated":
        changes = {k: event[k] for k in ("title", "visibility", "history") if isinstance(event.get(k), str)}
        fields["changes"] = settings(changes)
        line = "%(by)s changed #%(group)s: %(changes)s"
    else:
        line = _GROUP_EVENTS.get(kind, "%(user)s left #%(group)s")
    return "[%s] * %s" % (stamp(_nowMs(now), now), line % fields)


_GROUP_EVENTS = {
    "joined": "%(user)s joined #%(group)s",
    "left": "%(user)s left #%(group)s",
    "added": "%(user)s was added to #%(group)s by %(by)s",
    "kicked": "%(user)s was removed from #%(group)s by %(by)s",
    "banned": "%(user)s was banned from #%(group)s by %(by)s",
    "deleted": "#%(group)s was deleted by %(by)s",
}


def settings(changes):
    """
    Group settings as words: C{title “…”, private, history from joining}.
    """
    words = []
    for key, value in sorted(changes.items()):
        if key == "title":
            words.append("title “%s”" % (clean(value),) if value else "no title")
        elif key == "visibility":
            words.append("private" if value == "private" else "public")
        elif key == "history":
            words.append("history from joining" if value == "joined" else "history shared with newcomers")
    return ", ".join(words)


def groupInfo(info):
    """
    One line about a group, from C{group.info}.
    """
    title = info.get("title")
    owner = info.get("owner")
    return "#%s%s: %s, %s, %s members%s%s" % (
        clean(info.get("group", "?")), " “%s”" % (clean(title),) if title else "",
        "private" if info.get("visibility") == "private" else "public",
        "history from joining" if info.get("history") == "joined" else "shared history",
        info.get("members", "?"), ", owner %s" % (clean(owner),) if owner else "",
        ", you are %s" % (clean(info["role"]),) if info.get("role") else "")


def _table(rows):
    # Rows of cells, each column as wide as its widest cell (wide
    # characters counted twice).
    if not rows:
        return []
    columns = [max(width(row[i]) for row in rows) + 2 for i in range(len(rows[0]) - 1)]
    return [("".join(pad(cell, w) for cell, w in zip(row, columns)) + row[-1]).rstrip() for row in rows]


def groupTable(detail):
    """
    The caller's groups (C{group.list}'s C{detail}): name, role,
    visibility, title.
    """
    return _table([["#" + clean(d.get("group", "?")), clean(d.get("role") or "member"),
                    "private" if d.get("visibility") == "private" else "public", clean(d.get("title") or "")]
                   for d in detail])


def memberTable(members):
    """
    Members: name, role (plain members left blank), online.
    """
    return _table([[clean(m.get("user", "?")), "" if m.get("role") in (None, "member") else clean(m["role"]),
                    "online" if m.get("online") else ""] for m in members])


def directoryTable(groups):
    """
    Public groups: name, members, title.
    """
    return _table([["#" + clean(g.get("group", "?")), "%s members" % (g.get("members", "?"),),
                    clean(g.get("title") or "")] for g in groups])


def missed(batches, me=None, now=None):
    """
    Missed messages grouped by conversation, each group headed by its
    unread count.

    @param batches: C{[(conversation, [events])]}.
    @return: a list of lines.
    """
    total = sum(len(events) for _, events in batches)
    lines = [
        "=== %d missed message%s in %d conversation%s ==="
        % (total, "" if total == 1 else "s", len(batches), "" if len(batches) == 1 else "s")
    ]
    for conversation, events in batches:
        lines.append("--- %s (%d unread) ---" % (clean(conversation.label), len(events)))
        lines.extend(message(conversation, event, me, now) for event in events)
    lines.append("=== end of missed messages ===")
    return lines


def users(entries):
    """
    A two-column table of C{{"user", "name"}} entries, aligned for wide
    characters.
    """
    names = [clean(e.get("user", "?")) for e in entries]
    columns = max([width(n) for n in names] + [4]) + 2
    rows = []
    for entry, user in zip(entries, names):
        display = entry.get("name")
        rows.append((pad(user, columns) + clean(display)).rstrip() if display and display != user else user)
    return rows


def _nowMs(now):
    return int((time.time() if now is None else now) * 1000)
