// What the client knows: its conversations and their messages, who is
// online, its groups.  Views read it and re-draw when told it changed.

/** The key of a conversation: "u:<user>" or "g:<group>". */
export const keyOf = (kind, name) => `${kind}:${name}`;

export class Conversation {
  constructor(kind, name) {
    this.kind = kind; // "u" (direct) or "g" (group)
    this.name = name;
    this.key = keyOf(kind, name);
    this.messages = []; // oldest first
    this.byId = new Map();
    this.unread = 0;
    this.missed = 0; // pushed at login before we knew who counts them
    this.readUpto = null; // our read position (a msg_id)
    this.acked = null; // the last position we sent in an ack
    this.peerReadUpto = null; // direct: how far the peer has read
    this.more = true; // whether history holds older messages
    this.historyLoaded = false;
    this.activity = 0; // ts of the latest message, for ordering the list
    this.typing = new Map(); // user -> until (ms)
  }

  /** The request fields naming this conversation: {with} or {group}. */
  target(field = "with") {
    return this.kind === "g" ? { group: this.name } : { [field]: this.name };
  }

  get last() {
    for (let i = this.messages.length - 1; i >= 0; i--) {
      if (this.messages[i].msg_id) return this.messages[i];
    }
    return null;
  }

  /**
   * Add (or merge) a message; returns true when it was new.  Messages are
   * kept in the order of their server timestamps; those not stored yet
   * (being sent) stay at the end.
   */
  add(message) {
    if (message.msg_id && this.byId.has(message.msg_id)) {
      Object.assign(this.byId.get(message.msg_id), message, { status: this.byId.get(message.msg_id).status || message.status });
      return false;
    }
    if (message.msg_id) this.byId.set(message.msg_id, message);
    if (!message.msg_id) {
      this.messages.push(message);
    } else {
      let i = this.messages.length;
      while (i > 0 && (!this.messages[i - 1].msg_id || this.messages[i - 1].ts > message.ts)) i--;
      this.messages.splice(i, 0, message);
      this.activity = Math.max(this.activity, message.ts);
    }
    return true;
  }

  /**
   * Merge a page of history (oldest first, in the server's order, which
   * is the conversation's order) with what is held: a message already
   * held stays where it is and places the unknown ones after it; those
   * before the first held one go just before it.  An `older` page (asked
   * with `before`) comes before everything held.
   */
  mergeHistory(batch, older) {
    const firstKnown = batch.findIndex((m) => this.byId.has(m.msg_id));
    if (firstKnown < 0) {
      if (older) {
        for (const m of batch) this.byId.set(m.msg_id, m);
        this.messages.unshift(...batch);
      } else {
        for (const m of batch) this.add(m);
      }
    } else {
      const lead = batch.slice(0, firstKnown);
      for (const m of lead) this.byId.set(m.msg_id, m);
      let anchor = this.indexOf(batch[firstKnown].msg_id);
      this.messages.splice(anchor, 0, ...lead);
      anchor += lead.length;
      for (const m of batch.slice(firstKnown)) {
        const held = this.byId.get(m.msg_id);
        if (held) {
          // The server's copy wins (retracted since), but not our status.
          const status = held.status;
          Object.assign(held, m);
          if (status) held.status = status;
          if (m.retracted) delete held.text;
          anchor = this.messages.indexOf(held);
        } else {
          this.byId.set(m.msg_id, m);
          this.messages.splice(anchor + 1, 0, m);
          anchor += 1;
        }
      }
    }
    for (const m of batch) this.activity = Math.max(this.activity, m.ts);
  }

  /** A message being sent got its msg_id. */
  stored(message, msgId, ts) {
    message.msg_id = msgId;
    message.ts = ts;
    const existing = this.byId.get(msgId);
    this.messages.splice(this.messages.indexOf(message), 1);
    if (existing) {
      existing.status = message.status;
      return;
    }
    this.add(message);
  }

  /** Where msg_id stands in the conversation (-1 if not here). */
  indexOf(msgId) {
    const message = this.byId.get(msgId);
    return message ? this.messages.indexOf(message) : -1;
  }
}

export class State {
  constructor() {
    this.me = null;
    this.conversations = new Map();
    this.online = new Map(); // user -> display name
    this.groups = new Map(); // group -> {group, title, role, visibility}
    this.listeners = new Set();
    this.features = new Set(); // 1.1 requests the server answered
    this.missing = new Set(); // requests the server answered unknown_type
  }

  reset() {
    this.me = null;
    this.conversations.clear();
    this.online.clear();
    this.groups.clear();
    this.features.clear();
    this.missing.clear();
    this.changed("all");
  }

  /** The conversation of kind and name, made if new. */
  conversation(kind, name) {
    const key = keyOf(kind, name);
    let conversation = this.conversations.get(key);
    if (!conversation) {
      conversation = new Conversation(kind, name);
      this.conversations.set(key, conversation);
    }
    return conversation;
  }

  /** The conversation a message event belongs to. */
  conversationOf(message) {
    if (message.group !== undefined) return this.conversation("g", message.group);
    const other = message.from === this.me ? message.to : message.from;
    return this.conversation("u", other);
  }

  /** Conversations, most recent activity first. */
  sorted() {
    return [...this.conversations.values()].sort((a, b) => b.activity - a.activity || a.name.localeCompare(b.name));
  }

  unreadTotal() {
    let total = 0;
    for (const conversation of this.conversations.values()) total += conversation.unread;
    return total;
  }

  /** Tell the views what changed ("list", "online", "groups", a conversation key, "all"). */
  changed(what) {
    for (const listener of this.listeners) listener(what);
  }
}
