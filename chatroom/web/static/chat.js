// What the client does: log in (again after each reconnection), follow the
// server's events into the state, send messages exactly once (by cid),
// acknowledge what the user has seen.  No drawing here: see the views.

import { Connection, Disconnected, newCid } from "./connection.js";
import { State } from "./state.js";

// How often one "typing" goes out while the user keeps typing.
const TYPING_EVERY_MS = 3000;
// How long a "typing" shows without a new one.
const TYPING_SHOWS_MS = 6000;

export class Chat {
  constructor(connection = new Connection()) {
    this.connection = connection;
    this.state = new State();
    this.credentials = null; // kept in memory only, for logging in again
    this.outbox = []; // messages not acknowledged by the server yet
    this.current = null; // the open conversation
    this.lastTyping = 0;
    this.onLoggedOut = () => {};
    this.onNotify = () => {};
    this.onConnection = () => {};
    connection.onEvent = (event) => this.event(event);
    connection.onOpen = () => this._relogin();
    connection.onState = (state, detail) => {
      if (state === "offline" && this._firstLogin) {
        // The first login never reached the server: say so, do not retry.
        const first = this._firstLogin;
        this._firstLogin = null;
        this.connection.stop();
        first.reject(new Error("Cannot reach the server. Try again in a moment."));
        return;
      }
      this.onConnection(state, detail);
      if (state === "online") this._flushOutbox();
    };
  }

  /**
   * Register (optionally) and log in; resolves once logged in, rejects with
   * the server's error.
   */
  async login(user, password, register = false) {
    this.credentials = { user, password, register };
    const first = new Promise((resolve, reject) => (this._firstLogin = { resolve, reject }));
    this.connection.start();
    return first;
  }

  async _relogin() {
    const { user, password } = this.credentials;
    const first = this._firstLogin;
    try {
      if (this.credentials.register) {
        await this.connection.request("register", { user, password });
        this.credentials.register = false;
      }
      const reply = await this.connection.request("login", { user, password });
      this.state.me = reply.user;
      this.state.myName = reply.name;
    } catch (e) {
      if (e instanceof Disconnected) throw e;
      // A wrong password (changed elsewhere), a taken name: stop trying.
      this.connection.stop();
      this.credentials = null;
      if (first) {
        this._firstLogin = null;
        first.reject(e);
      } else {
        this.onLoggedOut(e.message);
      }
      throw e;
    }
    if (first) {
      this._firstLogin = null;
      first.resolve();
    }
    this.state.changed("me");
    // Not awaited in order: the lists come in while missed messages arrive.
    this.refresh();
  }

  /** Log out for good. */
  async logout() {
    try {
      await this.connection.request("logout");
    } catch (e) {
      // Closed already: nothing to do.
    }
    this.connection.stop();
    this.credentials = null;
    this.outbox = [];
    this.current = null;
    this.state.reset();
  }

  /** Ask a request the server may not know (1.1); null when it does not. */
  async optional(type, fields = {}) {
    if (this.state.missing.has(type)) return null;
    try {
      const reply = await this.connection.request(type, fields);
      this.state.features.add(type);
      return reply;
    } catch (e) {
      if (e.code === "unknown_type") {
        this.state.missing.add(type);
        this.state.changed("features");
        return null;
      }
      throw e;
    }
  }

  /** Fetch the lists: conversations, who is online, groups. */
  async refresh() {
    await Promise.allSettled([this.loadConversations(), this.loadOnline(), this.loadGroups()]);
    if (this.current) {
      this.current.historyLoaded = false;
      this.loadHistory(this.current, true);
    }
  }

  async loadConversations() {
    const reply = await this.optional("conversations", { limit: 200 });
    if (reply === null) {
      // A 1.0 server: the list is built from the groups, the missed
      // messages pushed at login and what happens from now on; those
      // missed messages are the unread counts.
      for (const conversation of this.state.conversations.values()) {
        conversation.unread += conversation.missed;
        conversation.missed = 0;
      }
      this.state.changed("list");
      return;
    }
    for (const conversation of this.state.conversations.values()) conversation.missed = 0;
    for (const entry of reply.conversations) {
      const conversation = entry.group !== undefined
        ? this.state.conversation("g", entry.group) : this.state.conversation("u", entry.with);
      if (entry.last) {
        conversation.add(this._message(entry.last));
      }
      conversation.unread = entry.unread;
      conversation.readUpto = entry.read;
      conversation.acked = entry.read;
      if (conversation === this.current) this.acknowledge();
    }
    this.state.changed("list");
  }

  async loadOnline() {
    const online = new Map();
    let cursor = null;
    do {
      const reply = await this.connection.request("users", cursor ? { limit: 1000, cursor } : { limit: 1000 });
      for (const entry of reply.users) online.set(entry.user, entry.name);
      cursor = reply.cursor;
    } while (cursor && online.size < 5000);
    this.state.online = online;
    this.state.changed("online");
  }

  async loadGroups() {
    const reply = await this.connection.request("group.list");
    this.state.groups.clear();
    const detail = new Map((reply.detail || []).map((entry) => [entry.group, entry]));
    for (const group of reply.groups) {
      this.state.groups.set(group, detail.get(group) || { group });
      this.state.conversation("g", group);
    }
    this.state.changed("groups");
    this.state.changed("list");
  }

  /** Load (older) history of a conversation. */
  async loadHistory(conversation, fresh = false) {
    if (conversation.loading) return;
    if (!fresh && conversation.historyLoaded && !conversation.more) return;
    const fields = { ...conversation.target(), limit: 50 };
    const oldest = conversation.messages.find((m) => m.msg_id);
    const older = !fresh && conversation.historyLoaded && oldest !== undefined;
    if (older) fields.before = oldest.msg_id;
    conversation.loading = true;
    this.state.changed(conversation.key);
    try {
      const reply = await this.connection.request("history", fields);
      conversation.mergeHistory(reply.messages.map((message) => this._message(message)), older);
      if (!fresh || !conversation.historyLoaded) conversation.more = reply.more;
      conversation.historyLoaded = true;
    } catch (e) {
      conversation.historyError = e.message;
    } finally {
      conversation.loading = false;
    }
    this.state.changed(conversation.key);
    this.state.changed("list");
    if (conversation === this.current) this.acknowledge();
  }

  /** Open a conversation (kind "u" or "g"). */
  open(kind, name) {
    const conversation = this.state.conversation(kind, name);
    this.current = conversation;
    if (!conversation.historyLoaded && this.connection.ready) this.loadHistory(conversation);
    this.acknowledge();
    this.state.changed("current");
    return conversation;
  }

  /** Tell the server the open conversation is read (when the user can see it). */
  acknowledge() {
    const conversation = this.current;
    if (!conversation || document.visibilityState !== "visible") return;
    const last = conversation.last;
    if (conversation.unread) {
      conversation.unread = 0;
      this.state.changed("list");
    }
    if (!last || last.msg_id === conversation.acked || !this.connection.ready) return;
    conversation.acked = last.msg_id;
    conversation.readUpto = last.msg_id;
    this.connection.request("ack", { upto: last.msg_id, ...conversation.target() }).catch(() => {
      conversation.acked = null;
    });
  }

  /** Send text to the open conversation; shown at once, delivered once. */
  send(text) {
    const conversation = this.current;
    if (!conversation || !text.trim()) return;
    const message = {
      cid: newCid(), from: this.state.me, text, ts: Date.now(), status: "sending", mine: true,
      ...(conversation.kind === "g" ? { group: conversation.name } : { to: conversation.name }),
    };
    conversation.add(message);
    this.outbox.push({ conversation, message });
    this.state.changed(conversation.key);
    this._deliver({ conversation, message });
  }

  async _deliver(item) {
    const { conversation, message } = item;
    if (!this.connection.ready) {
      message.status = "waiting";
      this.state.changed(conversation.key);
      return;
    }
    if (item.inFlight) return;
    item.inFlight = true;
    message.status = "sending";
    const request = conversation.kind === "g"
      ? this.connection.request("group.send", { group: conversation.name, text: message.text, cid: message.cid })
      : this.connection.request("send", { to: conversation.name, text: message.text, cid: message.cid });
    try {
      const reply = await request;
      this.outbox.splice(this.outbox.indexOf(item), 1);
      message.status = reply.status || "stored";
      conversation.stored(message, reply.msg_id, reply.ts);
      this._markPeerRead(conversation);
      this.state.changed("list");
    } catch (e) {
      item.inFlight = false;
      if (e instanceof Disconnected || e.code === "unavailable") {
        // Sent again (same cid: at most once) when the connection is back.
        message.status = "waiting";
      } else if (e.code === "rate_limited") {
        message.status = "waiting";
        setTimeout(() => this._deliver(item), Math.max(1000, e.reply.retry_after || 1000));
      } else {
        this.outbox.splice(this.outbox.indexOf(item), 1);
        message.status = "failed";
        message.error = e.message;
      }
    }
    this.state.changed(conversation.key);
  }

  _flushOutbox() {
    for (const item of [...this.outbox]) this._deliver(item);
  }

  /** Retract a message (1.1). */
  async retract(conversation, message) {
    const reply = await this.optional("retract", { msg_id: message.msg_id, ...conversation.target() });
    if (reply === null) throw new Error("this server cannot retract messages");
    message.retracted = true;
    delete message.text;
    this.state.changed(conversation.key);
  }

  /** The user is typing in the open conversation (sent at most every 3 s). */
  typing() {
    const conversation = this.current;
    const now = Date.now();
    if (!conversation || now - this.lastTyping < TYPING_EVERY_MS || !this.connection.ready) return;
    this.lastTyping = now;
    this.optional("typing", conversation.kind === "g" ? { group: conversation.name } : { to: conversation.name })
      .catch(() => {});
  }

  /** A message as the state keeps it. */
  _message(raw) {
    const message = { ...raw };
    delete message.type;
    message.mine = message.from === this.state.me;
    return message;
  }

  // Events from the server, by type.

  event(event) {
    const handler = this.handlers[event.type];
    if (handler) handler.call(this, event);
  }

  get handlers() {
    return EVENT_HANDLERS;
  }

  /** The conversation of a read or retract event: its group, or the other user. */
  _eventConversation(event) {
    if (event.group !== undefined) return this.state.conversation("g", event.group);
    const other = event.with === this.state.me || event.with === undefined ? event.by : event.with;
    return this.state.conversation("u", other);
  }

  _markPeerRead(conversation) {
    if (conversation.kind !== "u" || !conversation.peerReadUpto) return;
    const upto = conversation.indexOf(conversation.peerReadUpto);
    if (upto < 0) return;
    for (let i = 0; i <= upto; i++) {
      const message = conversation.messages[i];
      if (message.mine && message.msg_id) message.status = "read";
    }
  }
}

const EVENT_HANDLERS = {
  message(event) {
    const message = this._message(event);
    const conversation = this.state.conversationOf(message);
    const isNew = conversation.add(message);
    if (!isNew) return;
    conversation.typing.delete(message.from);
    const seen = conversation === this.current && document.visibilityState === "visible";
    if (!message.mine && !seen) {
      if (!event.offline) {
        conversation.unread += 1;
        this.onNotify(conversation, message);
      } else if (this.state.missing.has("conversations")) {
        conversation.unread += 1;
      } else if (!this.state.features.has("conversations")) {
        // Whether the server counts it (conversations, 1.1) is not known
        // yet: counted once it is (see loadConversations).
        conversation.missed += 1;
      }
      // Else the server's unread count (conversations) holds it already.
    }
    this.state.changed(conversation.key);
    this.state.changed("list");
    if (conversation === this.current) this.acknowledge();
  },

  presence(event) {
    if (event.status === "online") this.state.online.set(event.user, this.state.online.get(event.user) || event.user);
    else this.state.online.delete(event.user);
    this.state.changed("online");
  },

  group(event) {
    const me = event.user === this.state.me;
    if ((me && ["left", "kicked", "banned", "deleted"].includes(event.event)) || event.event === "deleted") {
      // Out of the group (on this device or another): it leaves the list.
      this.state.groups.delete(event.group);
      const conversation = this.state.conversations.get(`g:${event.group}`);
      this.state.conversations.delete(`g:${event.group}`);
      if (conversation && this.current === conversation) {
        this.current = null;
        this.state.changed("current");
      }
      this.state.changed("groups");
      this.state.changed("list");
    } else if (me && ["joined", "added"].includes(event.event)) {
      this.state.groups.set(event.group, { group: event.group });
      this.state.conversation("g", event.group);
      this.state.changed("groups");
      this.state.changed("list");
    }
    this.state.changed(`members:${event.group}`);
  },

  read(event) {
    const conversation = this._eventConversation(event);
    if (event.by === this.state.me) {
      // Read on another device of ours: no longer unread here.
      conversation.readUpto = event.upto;
      conversation.acked = event.upto;
      conversation.unread = 0;
      this.state.changed("list");
    } else if (conversation.kind === "u") {
      conversation.peerReadUpto = event.upto;
      this._markPeerRead(conversation);
    }
    this.state.changed(conversation.key);
  },

  typing(event) {
    if (event.from === this.state.me) return;
    const conversation = event.group !== undefined
      ? this.state.conversation("g", event.group) : this.state.conversation("u", event.from);
    conversation.typing.set(event.from, Date.now() + TYPING_SHOWS_MS);
    this.state.changed(`typing:${conversation.key}`);
    setTimeout(() => this.state.changed(`typing:${conversation.key}`), TYPING_SHOWS_MS + 50);
  },

  retract(event) {
    const conversation = this._eventConversation(event);
    const message = conversation.byId.get(event.msg_id);
    if (message) {
      message.retracted = true;
      delete message.text;
      this.state.changed(conversation.key);
    }
  },

  bye(event) {
    if (["password_changed", "account_deleted", "banned", "logout"].includes(event.reason)) {
      this.connection.stop();
      this.credentials = null;
      this.onLoggedOut(`The server closed the session: ${event.reason.replace("_", " ")}.`);
    }
  },
};
