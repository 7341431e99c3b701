// The connection to the server: the protocol (PROTOCOL.md) over a WebSocket
// at /ws, requests matched to their replies by id, events handed on, and
// reconnection (with a new login) when the connection drops.

const SUBPROTOCOL = "chatroom.v1";
// The server closes connections silent for 90 s (--idle-timeout).
const PING_EVERY_MS = 30000;
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30000;

/** An `error` reply, as an exception. */
export class ServerError extends Error {
  constructor(reply) {
    super(reply.message || reply.code);
    this.code = reply.code;
    this.reply = reply;
  }
}

/** The connection was lost before the reply came. */
export class Disconnected extends Error {
  constructor() {
    super("not connected");
    this.code = "disconnected";
  }
}

/**
 * One logical connection, across reconnections.
 *
 * Callbacks: onEvent(event), onState(state, detail) with state one of
 * "connecting", "online", "offline" (detail: seconds until the next try),
 * "closed"; onOpen() after each (re)connection, before anything else is
 * sent; it returns a promise (the login).
 */
export class Connection {
  constructor(url = Connection.defaultURL()) {
    this.url = url;
    this.socket = null;
    this.nextId = 1;
    this.waiting = new Map();
    this.wanted = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.onEvent = () => {};
    this.onState = () => {};
    this.onOpen = async () => {};
    this.ready = false;
  }

  /** ws(s)://this page's host/ws */
  static defaultURL() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws`;
  }

  /** Connect, and keep reconnecting until stop(). */
  start() {
    this.wanted = true;
    this.attempt = 0;
    this._connect();
  }

  /** Close for good (logout): no reconnection. */
  stop() {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close(1000);
      this.socket = null;
    }
    this._failWaiting();
    this.ready = false;
    this.onState("closed");
  }

  /** Reconnect now (after a "retry now" click, or the browser going online). */
  retryNow() {
    if (!this.wanted || (this.socket && this.socket.readyState <= WebSocket.OPEN)) return;
    clearTimeout(this.retryTimer);
    this._connect();
  }

  get connected() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  _connect() {
    this.onState("connecting");
    let socket;
    try {
      socket = new WebSocket(this.url, [SUBPROTOCOL]);
    } catch (e) {
      this._scheduleRetry();
      return;
    }
    this.socket = socket;
    socket.onopen = () => this._opened(socket);
    socket.onmessage = (e) => this._received(e.data);
    socket.onclose = () => this._closed(socket);
  }

  async _opened(socket) {
    if (socket !== this.socket) return;
    this.attempt = 0;
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (this.connected) this.request("ping").catch(() => {});
    }, PING_EVERY_MS);
    try {
      await this.onOpen();
    } catch (e) {
      // The login failed (the caller has said why); stop here.
      return;
    }
    if (socket !== this.socket) return;
    this.ready = true;
    this.onState("online");
  }

  _received(data) {
    let obj;
    try {
      obj = JSON.parse(data);
    } catch (e) {
      return;
    }
    if (obj.type === "ok" || obj.type === "error") {
      const pending = this.waiting.get(obj.id);
      if (pending) {
        this.waiting.delete(obj.id);
        if (obj.type === "ok") pending.resolve(obj);
        else pending.reject(new ServerError(obj));
        return;
      }
      if (obj.type === "error") this.onEvent({ type: "server-error", code: obj.code, message: obj.message });
      return;
    }
    this.onEvent(obj);
  }

  _closed(socket) {
    if (socket !== this.socket) return;
    this.socket = null;
    this.ready = false;
    clearInterval(this.pingTimer);
    this._failWaiting();
    if (this.wanted) this._scheduleRetry();
    else this.onState("closed");
  }

  _failWaiting() {
    for (const pending of this.waiting.values()) pending.reject(new Disconnected());
    this.waiting.clear();
  }

  _scheduleRetry() {
    // Exponential backoff with jitter, so that a restarted server is not
    // hit by every client at the same moment.
    const base = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.attempt);
    const delay = Math.round(base / 2 + Math.random() * base / 2);
    this.attempt += 1;
    this.onState("offline", Math.ceil(delay / 1000));
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.wanted) this._connect();
    }, delay);
  }

  /**
   * Send a request; a promise of its `ok` reply (rejected with a
   * ServerError for an `error`, or Disconnected).
   */
  request(type, fields = {}) {
    if (!this.connected) return Promise.reject(new Disconnected());
    const id = this.nextId++;
    const promise = new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    this.socket.send(JSON.stringify({ ...fields, type, id }));
    return promise;
  }
}

/** A fresh client id for a message (`cid`): 128 random bits, as hex. */
export function newCid() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
