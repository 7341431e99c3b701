// The group panel: a group's info and settings, its members with their
// roles, and what the caller's role allows (add, kick, ban, role, delete).

import { $, el, fill, say } from "./dom.js";

const RANK = { owner: 3, admin: 2, member: 1 };

export class GroupPanel {
  constructor(chat) {
    this.chat = chat;
    this.state = chat.state;
    this.group = null;
    this.info = null;
    this.state.listeners.add((what) => {
      if (this.group && (what === `members:${this.group}`)) this.load();
      if (what === "current" && this.group && (!chat.current || chat.current.key !== `g:${this.group}`)) this.close();
    });
    $("group-panel-button").addEventListener("click", () => (this.group ? this.close() : this.open(chat.current.name)));
    $("group-panel-close").addEventListener("click", () => this.close());
    $("group-panel").addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.close();
    });
    $("group-add-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const user = $("group-add-user").value.trim().normalize("NFC");
      if (user) this.act("group.add", { user }).then((reply) => reply && ($("group-add-user").value = ""));
    });
    $("group-settings").addEventListener("submit", (e) => {
      e.preventDefault();
      this.act("group.set", {
        title: $("group-title-input").value,
        visibility: $("group-visibility-input").value,
        history: $("group-history-input").value,
      });
    });
    $("group-leave").addEventListener("click", () => this.leave());
    $("group-delete").addEventListener("click", () => {
      if (confirm(`Delete the group ${this.group} for everyone?`)) this.act("group.delete", {}).then((reply) => reply && this.gone());
    });
  }

  open(group) {
    this.group = group;
    $("group-panel").hidden = false;
    $("group-panel-button").setAttribute("aria-expanded", "true");
    $("group-panel-title").textContent = `# ${group}`;
    this.load();
    $("group-panel-close").focus();
  }

  close() {
    this.group = null;
    $("group-panel").hidden = true;
    $("group-panel-button").setAttribute("aria-expanded", "false");
  }

  async load() {
    const group = this.group;
    say($("group-panel-error"), "");
    let info = null;
    let members;
    try {
      info = await this.chat.optional("group.info", { group });
      members = await this.chat.connection.request("group.members", { group, limit: 1000 });
    } catch (e) {
      say($("group-panel-error"), e.message);
      return;
    }
    if (group !== this.group) return;
    this.info = info;
    const myRole = info ? info.role : (this.state.groups.get(group) || {}).role || "member";
    if (this.state.groups.has(group)) this.state.groups.get(group).role = myRole;
    const rows = [];
    if (info) {
      rows.push(["Title", info.title || "—"], ["Visibility", info.visibility], ["New members see",
        info.history === "joined" ? "only from joining" : "earlier messages"], ["Owner", info.owner || "—"],
      ["Members", String(info.members)], ["Your role", info.role || "—"]);
    } else {
      rows.push(["Members", String(members.members.length)]);
    }
    fill($("group-info"), rows.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]));
    const manage = info && (myRole === "owner" || myRole === "admin");
    $("group-settings").hidden = !manage;
    if (manage) {
      $("group-title-input").value = info.title || "";
      $("group-visibility-input").value = info.visibility;
      $("group-history-input").value = info.history;
    }
    $("group-add-form").hidden = !info || (!manage && info.visibility !== "public");
    $("group-delete").hidden = !(info && myRole === "owner");
    $("group-leave").hidden = group === "lobby";
    const items = members.members.map((member) => this.memberItem(member, myRole));
    fill($("group-members"), items);
  }

  memberItem(member, myRole) {
    const role = member.role || "member";
    const me = member.user === this.state.me;
    const actions = [];
    const outranks = this.info && !me && (RANK[myRole] || 0) > (RANK[role] || 0) && (RANK[myRole] || 0) >= 2;
    if (outranks) {
      actions.push(this.button("Kick", `Kick ${member.user}`, () => this.act("group.kick", { user: member.user })));
      actions.push(this.button("Ban", `Ban ${member.user}`, () => this.act("group.ban", { user: member.user })));
    }
    if (this.info && myRole === "owner" && !me) {
      if (role === "member") actions.push(this.button("Make admin", `Make ${member.user} an admin`, () => this.act("group.role", { user: member.user, role: "admin" })));
      if (role === "admin") actions.push(this.button("Make member", `Make ${member.user} a member`, () => this.act("group.role", { user: member.user, role: "member" })));
      actions.push(this.button("Make owner", `Hand the group over to ${member.user}`, () => {
        if (confirm(`Hand ${this.group} over to ${member.user}?`)) this.act("group.role", { user: member.user, role: "owner" });
      }));
    }
    return el("li", {},
      el("span", { class: member.online ? "dot online" : "dot offline", "aria-label": member.online ? "online" : "offline" }),
      el("span", { class: "name" }, member.user),
      member.role ? el("span", { class: `role ${role}` }, role) : null,
      el("span", { class: "actions" }, ...actions));
  }

  button(text, label, onclick) {
    return el("button", { type: "button", class: "small secondary", "aria-label": label, onclick }, text);
  }

  async act(type, fields) {
    say($("group-panel-error"), "");
    try {
      const reply = await this.chat.connection.request(type, { group: this.group, ...fields });
      if (type !== "group.delete") this.load();
      return reply;
    } catch (e) {
      say($("group-panel-error"), e.code === "unknown_type" ? "This server does not support that yet." : e.message);
      return null;
    }
  }

  async leave() {
    try {
      await this.chat.connection.request("group.leave", { group: this.group });
    } catch (e) {
      say($("group-panel-error"), e.message);
      return;
    }
    this.gone();
  }

  gone() {
    this.state.groups.delete(this.group);
    this.state.conversations.delete(`g:${this.group}`);
    this.chat.current = null;
    this.close();
    this.state.changed("current");
    this.state.changed("list");
  }
}
