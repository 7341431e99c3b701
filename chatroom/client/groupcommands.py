# -*- test-case-name: tests.client.test_groupcommands -*-
"""
The slash commands that run groups (protocol 1.1): create, add, kick, ban,
roles, settings, delete, the directory, and the paged member list.  A
mixin of L{chatroom.client.commands.Commands}; L{HELP} and L{ARGUMENTS}
are added to its tables.

Where a command names a group and a user, the group may be left out while
talking to a group (C{/chat #GROUP}): C{/kick 李四} there is C{/kick
#GROUP 李四}.
"""

from chatroom.client import display
from chatroom.client.conversation import Conversation
from chatroom.messages import name as checkName

#: command -> (arguments, description), after the commands of commands.py.
HELP = {
    "create": ("GROUP [private] [TITLE]", "create a group (public unless 'private'), with a title"),
    "add": ("[#GROUP] USER", "add USER to a group"),
    "kick": ("[#GROUP] USER", "remove USER from a group"),
    "ban": ("[#GROUP] USER", "remove USER and keep them out"),
    "unban": ("[#GROUP] USER", "let a banned USER back in"),
    "op": ("[#GROUP] USER", "make USER an admin of a group"),
    "deop": ("[#GROUP] USER", "make an admin a plain member again"),
    "owner": ("[#GROUP] USER", "hand the group over to USER (you stay admin)"),
    "topic": ("[#GROUP] [TITLE]", "show or set a group's title"),
    "private": ("[#GROUP]", "make a group private (members add people)"),
    "public": ("[#GROUP]", "make a group public (anyone may join)"),
    "delgroup": ("#GROUP", "delete a group for everyone"),
    "directory": ("[PREFIX] [more]", "public groups to join"),
}

#: what each argument of a command is, for completion
ARGUMENTS = dict({c: ("conversation", "user") for c in ("add", "kick", "ban", "unban", "op", "deop", "owner")},
                 topic=("group",), private=("group",), public=("group",), delgroup=("group",),
                 members=("group",))

#: requests and what they say when done, by command
_MODERATION = {
    "add": ("group.add", {}, "* you added %(user)s to #%(group)s"),
    "kick": ("group.kick", {}, "* you removed %(user)s from #%(group)s"),
    "ban": ("group.ban", {}, "* you banned %(user)s from #%(group)s"),
    "unban": ("group.unban", {}, "* %(user)s may come back to #%(group)s"),
    "op": ("group.role", {"role": "admin"}, "* %(user)s is now an admin of #%(group)s"),
    "deop": ("group.role", {"role": "member"}, "* %(user)s is now a plain member of #%(group)s"),
    "owner": ("group.role", {"role": "owner"}, "* %(user)s now owns #%(group)s"),
}

PAGE = 50


class GroupCommands:
    """
    The group commands of L{chatroom.client.commands.Commands} (which
    provides C{out}, C{connection}, C{console} and C{_needLogin}).
    """

    _membersCursor = _directoryCursor = None

    def _group(self, word=None):
        # The group named (#GROUP or GROUP), else the conversation's.
        if word:
            return checkName("group", word.lstrip("#"))
        conversation = self.console.conversation
        if conversation is not None and conversation.group is not None:
            return conversation.group
        raise _Usage()

    def _groupAndUser(self, args):
        words = args.split()
        if len(words) == 1:
            return self._group(), checkName("user", words[0])
        if len(words) == 2:
            return self._group(words[0]), checkName("user", words[1])
        raise _Usage()

    def _usage(self, command):
        usage = HELP[command][0] if command in HELP else "shared|joined [#GROUP]"
        self.out("! usage: /%s %s" % (command, usage))

    async def _moderate(self, command, args):
        if self._needLogin():
            return
        try:
            group, user = self._groupAndUser(args)
        except _Usage:
            return self._usage(command)
        kind, extra, done = _MODERATION[command]
        await self.connection.request(kind, group=group, user=user, **extra)
        self.out(done % {"group": group, "user": user})

    def cmd_add(self, args):
        return self._moderate("add", args)

    def cmd_kick(self, args):
        return self._moderate("kick", args)

    def cmd_ban(self, args):
        return self._moderate("ban", args)

    def cmd_unban(self, args):
        return self._moderate("unban", args)

    def cmd_op(self, args):
        return self._moderate("op", args)

    def cmd_deop(self, args):
        return self._moderate("deop", args)

    def cmd_owner(self, args):
        return self._moderate("owner", args)

    async def cmd_create(self, args):
        if self._needLogin():
            return
        group, _, rest = args.partition(" ")
        if not group:
            return self._usage("create")
        group = checkName("group", group.lstrip("#"))
        first, _, title = rest.strip().partition(" ")
        visibility = "public"
        if first.lower() in ("private", "public"):
            visibility = first.lower()
        else:
            title = rest.strip()
        await self.connection.request("group.create", group=group, visibility=visibility,
                                      title=title.strip() or None)
        self.console.groups.add(group)
        self.out("* you created %s #%s%s" % (visibility, group, " “%s”" % (title.strip(),) if title.strip() else ""))

    async def _set(self, command, group, **settings):
        if self._needLogin():
            return
        try:
            group = self._group(group)
        except _Usage:
            return self._usage(command)
        await self.connection.request("group.set", group=group, **settings)
        self.out("* #%s: %s" % (group, display.settings(settings)))

    def cmd_private(self, args):
        return self._set("private", args.strip(), visibility="private")

    def cmd_public(self, args):
        return self._set("public", args.strip(), visibility="public")

    def historyRule(self, rule, args):
        """
        C{/history shared|joined [#GROUP]}: set a group's history rule.
        """
        return self._set("history", args.strip(), history=rule)

    async def cmd_topic(self, args):
        if self._needLogin():
            return
        group = None
        if args.startswith("#"):
            group, _, args = args.partition(" ")
        if args.strip():
            return await self._set("topic", group, title=args.strip())
        try:
            group = self._group(group)
        except _Usage:
            return self._usage("topic")
        info = await self.connection.request("group.info", group=group)
        self.out(display.groupInfo(info))

    async def cmd_delgroup(self, args):
        if self._needLogin():
            return
        if not args.strip():
            return self._usage("delgroup")
        group = self._group(args.strip())
        await self.connection.request("group.delete", group=group)
        self.console.groups.discard(group)
        if self.console.conversation == Conversation(group=group):
            self.console.conversation = None
            self.console.changed()
        self.out("* you deleted #%s" % (group,))

    async def cmd_groups(self, args):
        if self._needLogin():
            return
        reply = await self.connection.request("group.list")
        detail = reply.get("detail")
        if not isinstance(detail, list):
            # A 1.0 server: names only.
            detail = [{"group": g} for g in reply.get("groups", [])]
        detail = [d for d in detail if isinstance(d, dict) and isinstance(d.get("group"), str)]
        self.console.groups.update(d["group"] for d in detail)
        if not detail:
            self.out("You are in no group; /join GROUP or /directory")
            return
        self.out("Your groups:")
        for line in display.groupTable(detail):
            self.out("  " + line)

    async def cmd_members(self, args):
        if self._needLogin():
            return
        words = args.split()
        more = bool(words) and words[-1].lower() == "more"
        if more:
            words.pop()
        try:
            group = self._group(words[0] if words else None)
        except _Usage:
            return self.out("! usage: /members [#GROUP] [more]")
        cursor = None
        if more:
            if self._membersCursor is None or self._membersCursor[0] != group:
                self.out("(no more members; /members %s starts again)" % (group,))
                return
            cursor = self._membersCursor[1]
        reply = await self.connection.request("group.members", group=group, limit=PAGE, cursor=cursor)
        members = [m for m in reply.get("members", []) if isinstance(m, dict)]
        self.console.users.update(m["user"] for m in members if isinstance(m.get("user"), str))
        self._membersCursor = (group, reply["cursor"]) if reply.get("cursor") else None
        online = sum(1 for m in members if m.get("online"))
        self.out("Members of #%s (%s; %d of these online):" % (group, reply.get("total", len(members)), online))
        for line in display.memberTable(members):
            self.out("  " + line)
        if self._membersCursor is not None:
            self.out("  -- /members #%s more for the next page --" % (group,))

    async def cmd_directory(self, args):
        if self._needLogin():
            return
        words = args.split()
        cursor, prefix = None, ""
        if words and words[-1].lower() == "more":
            if self._directoryCursor is None:
                self.out("(no more groups; /directory starts again)")
                return
            prefix, cursor = self._directoryCursor
        elif words:
            prefix = words[0].lstrip("#")
        reply = await self.connection.request("group.directory", prefix=prefix or None, limit=PAGE, cursor=cursor)
        groups = [g for g in reply.get("groups", []) if isinstance(g, dict) and isinstance(g.get("group"), str)]
        self._directoryCursor = (prefix, reply["cursor"]) if reply.get("cursor") else None
        if not groups:
            self.out("No public group%s." % (" starting with %s" % (display.clean(prefix),) if prefix else ""))
            return
        self.out("Public groups (/join GROUP):")
        for line in display.directoryTable(groups):
            self.out("  " + line)
        if self._directoryCursor is not None:
            self.out("  -- /directory more for the next page --")


class _Usage(Exception):
    """
    The command's arguments do not fit: show its usage.
    """
