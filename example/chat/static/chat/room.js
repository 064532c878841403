// The chat page on courant.js: it follows the room's topic (chat:<room>, see topics.py) and
// publishes what its user says there. courant.js picks the transport, reconnects, and
// delivers what was missed while offline, once and in order; this page only shows things.
import { connect } from "courant";
import { appendMessage } from "./message.js";

const root = document.querySelector("[data-chat]");
const list = root.querySelector("[data-messages]");
const status = root.querySelector("[data-status]");
const notice = root.querySelector("[data-notice]");
const staff = root.querySelector("[data-staff]");
const here = root.querySelector("[data-here]");
const form = root.querySelector("[data-form]");
const me = root.dataset.me;

function show(event) {
  appendMessage(list, event, me);
}

function showNotice(text, reload = false) {
  notice.textContent = text;
  if (reload) {
    const link = document.createElement("a");
    link.href = "";
    link.textContent = "Reload";
    notice.append(link);
  }
  notice.hidden = false;
}

const client = connect(root.dataset.endpoint);
const LABELS = { connecting: "connecting…", reconnecting: "reconnecting…", closed: "offline" };
client.on("state", (state) => {
  status.textContent = state === "open" ? `live · ${client.transport}` : LABELS[state];
  status.classList.toggle("live", state === "open");
});
client.on("error", (error) => showNotice(`Disconnected for good: ${error.message}`, true));

const room = client.subscribe(root.dataset.topic, {
  presence: {}, // count this page among who is here (ChatRoom.clean_presence adds the name)
  // Who is here: one name per user, however many tabs each has open.
  onPresence: (members) => {
    here.textContent = Object.values(members).map((metas) => metas[0].name).sort().join(", ");
  },
  onMessage: show,
  onGap: () => showNotice("Some messages were missed while this page was offline.", true),
  onError: (error) => showNotice(`Cannot follow this room: ${error.message}`),
});

// Only staff may follow this topic: everyone else sees the refusal.
client.subscribe("admin:announcements", {
  onSubscribed: () => (staff.textContent = "following"),
  onMessage: (data) => (staff.textContent = data?.text ?? JSON.stringify(data)),
  onError: (error) => {
    staff.textContent = `refused (${error.code}): ${error.message}`;
    staff.classList.add("error");
  },
});

form.addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const input = form.elements.text;
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  try {
    await room.publish({ text }); // it comes back to this page as a message, like to the others
  } catch (error) {
    showNotice(`Not sent (${error.code}): ${error.message}`);
    input.value ||= text;
  }
});

JSON.parse(document.getElementById("history").textContent).forEach(show);
// For the browser console (and the browser tests): window.chat.client.transport, ...
window.chat = { client, room };
