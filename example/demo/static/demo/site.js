// The demo site's shared script, loaded by every page (demo/base.html). Pages import what
// they need from it instead of connecting again:
//
//   import { client, online, onOnline, notify, avatar } from "/static/demo/site.js";
//
// - `client`: the page's one courant.js client, connected to /courant/. Subscribe to as
//   many topics as the page needs on it: one connection carries them all.
// - `online`: the Subscription of `site:online` (demo/topics.py, SiteOnline), where every
//   page of a logged-in user is tracked, so `Object.keys(online.presence).length` is the
//   number of people online. null for an anonymous visitor, who is not counted.
// - `onOnline(callback)`: `callback(members)` at every change of who is online (at once
//   too, if that is already known). Returns a function that removes the callback.
// - `notify(title, body, {tag, url})`: a browser notification when the user granted the
//   permission (never asked for here: the nav's button asks), and an in-page toast either
//   way. A toast with the `tag` of one still shown replaces it; `url` makes it a link.
// - `avatar(name, {label})`: the avatar chip of the design (style.css), as the `avatar`
//   template tag renders it on the server.
//
// It keeps the nav's "N online" counter live, and shows every message of the user's own
// topic `user:<id>` (UserTopic: the server publishes `{title, body, url}` there) with
// notify(). The page's user is read from <body data-user-id data-user-name>.
import { connect } from "../courant/courant.js";

const body = document.body;
const userId = body.dataset.userId || null;

export const client = connect(body.dataset.endpoint || "/courant/");

// The connection's state, for the stylesheet (the online counter's dot).
const showState = (state) => (document.documentElement.dataset.connection = state);
showState(client.state);
client.on("state", showState);

// -- who is online -------------------------------------------------------------------------

const listeners = new Set();
const counter = document.querySelector("[data-online]");
let known = false;

function changed(members) {
  known = true;
  if (counter) {
    const count = Object.keys(members).length;
    counter.textContent = `${count} online`;
    counter.title = `On the site now: ${names(members).join(", ")}`;
    counter.hidden = false;
  }
  for (const callback of listeners) safely(() => callback(members));
}

/** The names of the members of `site:online`, sorted. */
function names(members) {
  return Object.values(members).map((metas) => metas[0].name).sort();
}

export const online = userId
  ? client.subscribe("site:online", {
      presence: {}, // SiteOnline.clean_presence shows it as {name}
      onPresence: changed,
    })
  : null;

export function onOnline(callback) {
  listeners.add(callback);
  if (known) safely(() => callback(online.presence));
  return () => listeners.delete(callback);
}

// -- notifications ---------------------------------------------------------------------------

const toasts = document.querySelector("[data-toast]");
const TOAST_MS = 6000;

export function notify(title, body = "", { tag, url } = {}) {
  if ("Notification" in window && Notification.permission === "granted") {
    try {
      const shown = new Notification(title, { body, tag });
      if (url) {
        shown.onclick = () => {
          window.focus();
          location.href = url;
        };
      }
    } catch {
      // Some browsers (Chrome on Android) show notifications from a service worker only:
      // the toast below still tells the user.
    }
  }
  toast(title, body, { tag, url });
}

function toast(title, text, { tag, url }) {
  if (!toasts) return;
  const item = document.createElement("div");
  item.className = "toast";
  item.setAttribute("role", "status");
  if (tag) {
    item.dataset.tag = tag;
    for (const old of toasts.querySelectorAll(".toast")) {
      if (old.dataset.tag === tag) old.remove();
    }
  }
  const heading = document.createElement(url ? "a" : "strong");
  heading.className = "toast-title";
  heading.textContent = title;
  if (url) heading.href = url;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "toast-close";
  close.setAttribute("aria-label", "Dismiss");
  close.textContent = "×";
  close.addEventListener("click", () => item.remove());
  item.append(heading, close);
  if (text) {
    const paragraph = document.createElement("p");
    paragraph.textContent = text;
    item.append(paragraph);
  }
  toasts.append(item);
  setTimeout(() => {
    item.classList.add("leaving");
    setTimeout(() => item.remove(), 300);
  }, TOAST_MS);
}

// The nav's "Enable notifications": shown while the browser has not been asked yet.
const ask = document.querySelector("[data-notify-permission]");
if (ask && "Notification" in window && Notification.permission === "default") {
  ask.hidden = false;
  ask.addEventListener("click", async () => {
    await Notification.requestPermission();
    ask.hidden = Notification.permission !== "default"; // granted or denied: asked for good
  });
}

// The user's own topic: what the server wants this user to know, on every page.
const personal = userId
  ? client.subscribe(`user:${userId}`, {
      onMessage(data) {
        if (data && typeof data.title === "string") {
          notify(data.title, data.body ?? "", { url: data.url || undefined });
        }
      },
    })
  : null;

// -- the design's avatar chip --------------------------------------------------------------

/** A colour for `name`, 0-359: the same hash as the `avatar` template tag (demo.py), of
 * the name in lower case, so that "Alice" and "alice" are one colour. */
export function hue(name) {
  const lower = name.toLowerCase();
  let value = 0;
  for (let index = 0; index < lower.length; index++) {
    value = (value * 31 + lower.charCodeAt(index)) % 360;
  }
  return value;
}

function initials(name) {
  const words = name.split(/\s+/).filter(Boolean).slice(0, 2);
  return words.map((word) => word[0]).join("").toUpperCase() || "?";
}

export function avatar(name, { label = true } = {}) {
  const circle = document.createElement("span");
  circle.className = "avatar";
  circle.style.setProperty("--hue", hue(name));
  // Drawn by CSS from data-initials: a chip's text is the name alone.
  circle.dataset.initials = initials(name);
  if (!label) {
    circle.title = name;
    return circle;
  }
  const text = document.createElement("span");
  text.className = "chip-name";
  text.textContent = name;
  const chip = document.createElement("span");
  chip.className = "chip";
  chip.append(circle, text);
  return chip;
}

// A listener that throws must not keep the others from running.
function safely(callback) {
  try {
    callback();
  } catch (error) {
    setTimeout(() => {
      throw error;
    });
  }
}

// For the browser console (and the browser tests).
window.site = { client, online, personal };
