// Building the page: every piece of text a user or the server wrote goes in
// with textContent (never innerHTML), so a message is shown, never run.

/** The element with id `id`. */
export const $ = (id) => document.getElementById(id);

/**
 * A new element: `el("li", {class: "x", title: "t"}, "text", child)`.
 * Strings become text nodes; `on*` keys of `attrs` become listeners.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      node.className = value;
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    node.append(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }
  return node;
}

/** Replace the children of `node`. */
export function fill(node, children) {
  node.replaceChildren(...children.filter((child) => child));
}

/** Show `message` (text) in the element `node`, or hide it when empty. */
export function say(node, message) {
  node.textContent = message || "";
  node.hidden = !message;
}

/** A time of day, as the user's locale writes it. */
export function timeOf(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** A day, as the user's locale writes it ("Today" and "Yesterday" by name). */
export function dayOf(ts) {
  const day = new Date(ts);
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (day.toDateString() === today.toDateString()) return "Today";
  if (day.toDateString() === yesterday.toDateString()) return "Yesterday";
  return day.toLocaleDateString([], { weekday: "long", year: "numeric", month: "long", day: "numeric" });
}
