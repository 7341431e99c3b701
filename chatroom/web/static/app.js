// The web client's entry point: the login screen, the connection banner,
// desktop notifications, and the views wired to one Chat.

import { Chat } from "./chat.js";
import { ChatView } from "./chatview.js";
import { $, say } from "./dom.js";
import { GroupPanel } from "./groups.js";
import { Sidebar } from "./sidebar.js";

// "Remember me" keeps the name only: never a password or a token.
const REMEMBERED = "chatroom.user";

const chat = new Chat();
const view = new ChatView(chat);
const panel = new GroupPanel(chat);
const sidebar = new Sidebar(chat, openConversation);

function openConversation(kind, name) {
  chat.open(kind, name);
  document.body.classList.add("in-conversation");
}

function showLogin(message) {
  $("chat-screen").hidden = true;
  $("login-screen").hidden = false;
  $("banner").hidden = true;
  document.body.classList.remove("in-conversation");
  say($("login-error"), message);
  $("login-password").value = "";
  document.title = "chatroom";
  ($("login-user").value ? $("login-password") : $("login-user")).focus();
}

function showChat() {
  $("login-screen").hidden = true;
  $("chat-screen").hidden = false;
  $("notify-button").hidden = !("Notification" in window) || Notification.permission !== "default";
  $("new-chat-user").focus();
}

async function logIn(register) {
  const user = $("login-user").value.trim().normalize("NFC");
  const password = $("login-password").value;
  if (!user || !password) {
    say($("login-error"), "Type a name and a password.");
    return;
  }
  if ($("login-remember").checked) localStorage.setItem(REMEMBERED, user);
  else localStorage.removeItem(REMEMBERED);
  $("login-button").disabled = $("register-button").disabled = true;
  say($("login-error"), "");
  try {
    await chat.login(user, password, register);
    $("login-password").value = "";
    showChat();
  } catch (e) {
    say($("login-error"), e.message || "Could not log in.");
  } finally {
    $("login-button").disabled = $("register-button").disabled = false;
  }
}

$("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  logIn(false);
});
$("register-button").addEventListener("click", () => logIn(true));
$("logout-button").addEventListener("click", async () => {
  await chat.logout();
  showLogin("");
});
$("back-button").addEventListener("click", () => {
  document.body.classList.remove("in-conversation");
  const item = chat.current && document.querySelector(`[data-key="${CSS.escape(chat.current.key)}"]`);
  if (item) item.focus();
});

chat.onLoggedOut = (message) => {
  chat.state.reset();
  showLogin(message);
};

// The banner says when the connection is down; messages typed meanwhile
// wait (shown as waiting) and go once it is back.
chat.onConnection = (state, seconds) => {
  const banner = $("banner");
  if (!chat.state.me) return;
  if (state === "online") {
    banner.hidden = true;
    banner.className = "banner";
    return;
  }
  if (state === "closed") {
    banner.hidden = true;
    return;
  }
  banner.hidden = false;
  banner.className = "banner down";
  banner.replaceChildren(
    document.createTextNode(state === "connecting"
      ? "Connection lost. Reconnecting…"
      : `Connection lost. Trying again in ${seconds} s; what you write is sent once it is back. `),
  );
  if (state === "offline") {
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "small";
    retry.textContent = "Retry now";
    retry.addEventListener("click", () => chat.connection.retryNow());
    banner.append(retry);
  }
};
window.addEventListener("online", () => chat.connection.retryNow());
// A page left for another (it may stay in the back/forward cache) closes
// its connection, so that its user is shown offline at once; coming back
// to it connects and logs in again.
window.addEventListener("pagehide", () => {
  if (chat.credentials) chat.connection.stop();
});
window.addEventListener("pageshow", (e) => {
  if (e.persisted && chat.credentials) chat.connection.start();
});

// Desktop notifications: only when the tab is hidden, only once allowed
// (asked on a click, never on load).
$("notify-button").addEventListener("click", async () => {
  await Notification.requestPermission();
  $("notify-button").hidden = Notification.permission !== "default";
});
chat.onNotify = (conversation, message) => {
  if (document.visibilityState === "visible" || !("Notification" in window) || Notification.permission !== "granted") return;
  const title = conversation.kind === "g" ? `${message.from} in #${conversation.name}` : message.from;
  const notification = new Notification(title, { body: message.text, tag: conversation.key });
  notification.addEventListener("click", () => {
    window.focus();
    openConversation(conversation.kind, conversation.name);
    notification.close();
  });
};

const remembered = localStorage.getItem(REMEMBERED);
if (remembered) {
  $("login-user").value = remembered;
  $("login-remember").checked = true;
}
showLogin("");

// For the tests and the curious: the running client.
window.chatroom = { chat, view, panel, sidebar };
