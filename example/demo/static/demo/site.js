// Placeholder of the demo site's shell script (to be replaced by the demo branch).
import { connect } from "../courant/courant.js";

const userId = document.body.dataset.userId;
export const client = connect("/courant/");
const listeners = [];
const counter = document.querySelector("[data-online]");
export const online = client.subscribe("site:online", {
  presence: {},
  onPresence(members) {
    if (counter) counter.textContent = `${Object.keys(members).length} online`;
    for (const listener of listeners) listener(members);
  },
});
export function onOnline(callback) {
  listeners.push(callback);
}

const toast = document.querySelector("[data-toast]");
export function notify(title, body = "", { tag } = {}) {
  if ("Notification" in window && Notification.permission === "granted") {
    new Notification(title, { body, tag });
  }
  if (toast) {
    toast.textContent = body ? `${title}: ${body}` : title;
    toast.hidden = false;
  }
}

const ask = document.querySelector("[data-notify-permission]");
if (ask && "Notification" in window && Notification.permission === "default") {
  ask.hidden = false;
  ask.addEventListener("click", async () => {
    await Notification.requestPermission();
    ask.hidden = true;
  });
}

if (userId) {
  client.subscribe(`user:${userId}`, {
    onMessage: (data) => notify(data.title, data.body),
  });
}
