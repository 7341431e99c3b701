// The open conversation: its messages (older ones loaded on scrolling up,
// day separators, own messages on the right with their delivery status),
// who is typing, and the message box.

import { $, dayOf, el, fill, timeOf } from "./dom.js";

const STATUS_TEXT = {
  waiting: "waiting for the connection",
  sending: "sending",
  stored: "sent",
  delivered: "delivered",
  read: "read",
  failed: "not sent",
};
const STATUS_MARK = { waiting: "🕓", sending: "…", stored: "✓", delivered: "✓✓", read: "✓✓", failed: "!" };

export class ChatView {
  constructor(chat) {
    this.chat = chat;
    this.state = chat.state;
    this.frame = null;
    this.composing = false;
    this.state.listeners.add((what) => this.changed(what));
    const text = $("composer-text");
    const scroller = $("message-scroller");
    // An Enter that ends an IME composition (Chinese, Japanese, ...) picks
    // the characters; it must never send the message.
    text.addEventListener("compositionstart", () => (this.composing = true));
    text.addEventListener("compositionend", () => (this.composing = false));
    text.addEventListener("keydown", (e) => this.keydown(e));
    text.addEventListener("input", () => {
      this.grow();
      if (text.value) this.chat.typing();
    });
    $("composer").addEventListener("submit", (e) => {
      e.preventDefault();
      this.send();
    });
    scroller.addEventListener("scroll", () => {
      const conversation = this.chat.current;
      if (conversation && scroller.scrollTop < 80 && conversation.more && conversation.historyLoaded && !conversation.loading) {
        this.chat.loadHistory(conversation);
      }
    });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.chat.acknowledge();
    });
    window.addEventListener("focus", () => this.chat.acknowledge());
  }

  keydown(e) {
    if (e.key !== "Enter" || e.shiftKey) return;
    // keyCode 229: the key went to the IME (Safari ends the composition
    // before this keydown, with isComposing already false).
    if (e.isComposing || this.composing || e.keyCode === 229) return;
    e.preventDefault();
    this.send();
  }

  send() {
    const text = $("composer-text");
    const value = text.value;
    if (!value.trim() || !this.chat.current) return;
    this.chat.send(value);
    text.value = "";
    this.grow();
    this.stickToBottom = true;
  }

  grow() {
    const text = $("composer-text");
    text.style.height = "auto";
    text.style.height = `${Math.min(text.scrollHeight, 200)}px`;
  }

  changed(what) {
    const current = this.chat.current;
    if (what === "current" || what === "all" || what === "online" || (current && (what === current.key || what === `typing:${current.key}`))) {
      if (this.frame === null) this.frame = requestAnimationFrame(() => this.draw(what === "current"));
    }
  }

  /** Draw the open conversation; `opened` when it was just opened. */
  draw(opened = false) {
    this.frame = null;
    const conversation = this.chat.current;
    const scroller = $("message-scroller");
    const text = $("composer-text");
    if (!conversation) {
      $("conversation-title").textContent = "Pick a conversation";
      fill($("message-list"), []);
      text.disabled = $("send-button").disabled = true;
      return;
    }
    const atBottom = opened || this.stickToBottom || scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    this.stickToBottom = false;
    $("conversation-title").textContent = conversation.kind === "g" ? `# ${conversation.name}` : conversation.name;
    $("conversation-presence").textContent = conversation.kind === "u"
      ? (this.state.online.has(conversation.name) ? "online" : "offline") : "";
    $("group-panel-button").hidden = conversation.kind !== "g";
    text.disabled = $("send-button").disabled = false;
    text.setAttribute("aria-label", `Message to ${conversation.name}`);
    let status = "";
    if (conversation.loading) status = "Loading…";
    else if (conversation.historyError) status = conversation.historyError;
    else if (conversation.historyLoaded && !conversation.more) status = "The beginning of the conversation";
    $("history-status").textContent = status;
    const items = [];
    let day = null;
    for (const message of conversation.messages) {
      const thisDay = dayOf(message.ts);
      if (thisDay !== day) {
        items.push(el("li", { class: "day", role: "separator" }, el("span", {}, thisDay)));
        day = thisDay;
      }
      items.push(this.messageItem(conversation, message));
    }
    fill($("message-list"), items);
    this.drawTyping(conversation);
    // Keep the reader where they were: at the bottom if they were there,
    // else at the same message (older ones may have been added above).
    scroller.scrollTop = atBottom ? scroller.scrollHeight : scroller.scrollHeight - fromBottom;
    if (opened) text.focus({ preventScroll: true });
    // Too few messages to scroll: no scrolling up would ever ask for more.
    if (conversation.more && conversation.historyLoaded && !conversation.loading
        && scroller.scrollHeight <= scroller.clientHeight + 80) {
      this.chat.loadHistory(conversation);
    }
  }

  messageItem(conversation, message) {
    const mine = message.from === this.state.me;
    const body = message.retracted
      ? el("p", { class: "text retracted" }, "This message was retracted")
      : el("p", { class: "text", dir: "auto" }, message.text);
    const meta = el("span", { class: "meta" }, el("time", { datetime: new Date(message.ts).toISOString() }, timeOf(message.ts)));
    if (mine && message.status) {
      meta.append(el("span", { class: `status ${message.status}`, title: STATUS_TEXT[message.status], "aria-label": STATUS_TEXT[message.status] },
        STATUS_MARK[message.status] || ""));
    }
    const canRetract = message.msg_id && !message.retracted && !this.state.missing.has("retract")
      && (mine || ["owner", "admin"].includes((this.state.groups.get(conversation.name) || {}).role));
    return el("li", {
      class: `message${mine ? " mine" : ""}${message.status === "failed" ? " failed" : ""}`,
      dataset: { msgId: message.msg_id || "", cid: message.cid || "" },
    },
    conversation.kind === "g" && !mine ? el("span", { class: "sender" }, message.from) : null,
    body,
    message.error ? el("p", { class: "error" }, message.error) : null,
    meta,
    canRetract ? el("button", {
      type: "button", class: "retract small secondary", "aria-label": "Retract this message",
      onclick: () => this.chat.retract(conversation, message).catch((e) => {
        message.error = e.message;
        this.state.changed(conversation.key);
      }),
    }, "Retract") : null);
  }

  drawTyping(conversation) {
    const now = Date.now();
    const who = [...conversation.typing.entries()].filter(([, until]) => until > now).map(([user]) => user);
    $("typing").textContent = who.length === 0 ? "" : who.length === 1 ? `${who[0]} is typing…` : `${who.join(", ")} are typing…`;
  }
}
