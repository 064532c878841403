// The low-level chat page: a hand-written WebSocket client of ChatConsumer, with its own
// reconnection and an HTTP fallback for sending. Every message carries its database id, so
// one seen twice is shown once. (The room page does the same with courant.js: room.js.)
import { appendMessage } from "./message.js";

const root = document.querySelector("[data-chat]");
const list = root.querySelector("[data-messages]");
const status = root.querySelector("[data-status]");
const form = root.querySelector("[data-form]");
const me = root.dataset.me;
const shown = new Set();
let socket = null;
let attempt = 0;

function show(event) {
  if (event.type !== "message" || shown.has(event.id)) return;
  shown.add(event.id);
  appendMessage(list, event, me);
}

function setStatus(text, live) {
  status.textContent = text;
  status.classList.toggle("live", live);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}${root.dataset.socket}`);
  socket.addEventListener("open", () => {
    attempt = 0;
    setStatus("live", true);
  });
  socket.addEventListener("message", (frame) => {
    const event = JSON.parse(frame.data);
    if (event.type === "error") setStatus(event.error, true);
    else show(event);
  });
  socket.addEventListener("close", () => {
    socket = null;
    // Exponential backoff with full jitter, capped at 10 s.
    const delay = Math.random() * Math.min(10000, 500 * 2 ** attempt++);
    setStatus("reconnecting…", false);
    setTimeout(connect, delay);
  });
}

form.addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const body = new FormData(form); // the text and the CSRF token
  const text = String(body.get("text") || "").trim();
  if (!text) return;
  form.elements.text.value = "";
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ text }));
    return;
  }
  // No socket right now: say it over HTTP; the view publishes it to everyone.
  const response = await fetch(form.action, { method: "POST", headers: { Accept: "application/json" }, body })
    .catch(() => null);
  if (response && response.ok) show(await response.json());
});

JSON.parse(document.getElementById("history").textContent).forEach(show);
connect();
