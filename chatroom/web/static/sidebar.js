// The sidebar: the conversation list (unread badges, presence dots), who is
// online, the group directory.

import { $, el, fill, timeOf } from "./dom.js";

export class Sidebar {
  constructor(chat, openConversation) {
    this.chat = chat;
    this.state = chat.state;
    this.openConversation = openConversation;
    this.drawn = new Set();
    this.frame = null;
    this.state.listeners.add((what) => this.changed(what));
    $("new-chat-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const name = $("new-chat-user").value.trim().normalize("NFC");
      if (!name) return;
      $("new-chat-user").value = "";
      this.openConversation("u", name);
    });
    $("group-directory-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.findGroups($("group-directory-prefix").value.trim().normalize("NFC"));
    });
    $("group-create-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.createGroup($("group-create-name").value.trim().normalize("NFC"), $("group-create-visibility").value);
    });
  }

  changed(what) {
    if (!["all", "list", "online", "groups", "current", "me"].includes(what) && !what.startsWith("u:") && !what.startsWith("g:")) return;
    if (this.frame === null) this.frame = requestAnimationFrame(() => this.draw());
  }

  draw() {
    this.frame = null;
    const state = this.state;
    $("me-name").textContent = state.me ? (state.myName && state.myName !== state.me ? `${state.myName} (${state.me})` : state.me) : "";
    const items = state.sorted().map((conversation) => this.conversationItem(conversation));
    fill($("conversation-list"), items.length ? items : [el("li", { class: "empty" }, "No conversations yet")]);
    const people = [...state.online.entries()]
      .filter(([user]) => user !== state.me)
      .sort((a, b) => a[0].localeCompare(b[0]))
      .map(([user, name]) => el("li", {},
        el("button", { type: "button", class: "person", onclick: () => this.openConversation("u", user),
          "aria-label": `Chat with ${user}, online` },
        el("span", { class: "dot online", "aria-hidden": "true" }),
        el("span", { class: "name" }, name && name !== user ? `${name} (${user})` : user))));
    $("online-count").textContent = `(${state.online.size})`;
    fill($("online-list"), people.length ? people : [el("li", { class: "empty" }, "Nobody else is online")]);
    document.title = state.unreadTotal() ? `(${state.unreadTotal()}) chatroom` : "chatroom";
  }

  conversationItem(conversation) {
    const state = this.state;
    const last = conversation.last;
    const current = this.chat.current === conversation;
    let preview = "";
    if (last) {
      const who = last.from === state.me ? "You" : last.from;
      const text = last.retracted ? "(retracted)" : last.text;
      preview = conversation.kind === "g" || last.from === state.me ? `${who}: ${text}` : text;
    }
    const online = conversation.kind === "u" && state.online.has(conversation.name);
    const label = [
      conversation.kind === "g" ? `Group ${conversation.name}` : conversation.name,
      conversation.kind === "u" ? (online ? "online" : "offline") : null,
      conversation.unread ? `${conversation.unread} unread` : null,
    ].filter(Boolean).join(", ");
    return el("li", { class: current ? "current" : "" },
      el("button", {
        type: "button", class: "conversation-item", "aria-current": current ? "true" : null, "aria-label": label,
        dataset: { key: conversation.key },
        onclick: () => this.openConversation(conversation.kind, conversation.name),
      },
      conversation.kind === "g"
        ? el("span", { class: "dot group", "aria-hidden": "true" }, "#")
        : el("span", { class: online ? "dot online" : "dot offline", "aria-hidden": "true" }),
      el("span", { class: "title" }, conversation.name),
      last ? el("time", { class: "when" }, timeOf(last.ts)) : null,
      el("span", { class: "preview" }, preview),
      conversation.unread ? el("span", { class: "badge", "aria-hidden": "true" }, conversation.unread > 999 ? "999+" : String(conversation.unread)) : null));
  }

  async findGroups(prefix) {
    const list = $("group-directory");
    let reply;
    try {
      reply = await this.chat.optional("group.directory", prefix ? { prefix, limit: 50 } : { limit: 50 });
    } catch (e) {
      fill(list, [el("li", { class: "error" }, e.message)]);
      return;
    }
    if (reply === null) {
      // A 1.0 server has no directory: offer to join the name typed.
      fill(list, prefix ? [this.directoryItem({ group: prefix, title: "", members: null })]
        : [el("li", { class: "empty" }, "Type a group's name to join it")]);
      return;
    }
    const items = reply.groups.map((entry) => this.directoryItem(entry));
    fill(list, items.length ? items : [el("li", { class: "empty" }, "No group found")]);
  }

  directoryItem(entry) {
    const member = this.state.groups.has(entry.group);
    return el("li", {},
      el("span", { class: "name" }, entry.group),
      entry.title ? el("span", { class: "preview" }, entry.title) : null,
      entry.members !== null && entry.members !== undefined ? el("span", { class: "count" }, `${entry.members} members`) : null,
      member
        ? el("button", { type: "button", class: "small secondary", onclick: () => this.openConversation("g", entry.group) }, "Open")
        : el("button", { type: "button", class: "small", "aria-label": `Join ${entry.group}`, onclick: () => this.joinGroup(entry.group) }, "Join"));
  }

  async joinGroup(group) {
    try {
      await this.chat.connection.request("group.join", { group });
      this.state.groups.set(group, { group });
      this.state.changed("groups");
      fill($("group-directory"), []);
      this.openConversation("g", group);
    } catch (e) {
      fill($("group-directory"), [el("li", { class: "error", role: "alert" }, e.message)]);
    }
  }

  async createGroup(group, visibility) {
    if (!group) return;
    try {
      await this.chat.connection.request("group.create", { group, visibility });
      $("group-create-name").value = "";
      this.state.groups.set(group, { group, role: "owner", visibility });
      this.state.changed("groups");
      this.openConversation("g", group);
    } catch (e) {
      fill($("group-directory"), [el("li", { class: "error", role: "alert" }, e.message)]);
    }
  }
}
