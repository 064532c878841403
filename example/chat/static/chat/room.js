// The chat page on courant.js: it follows the room's topic (chat:<room>, see topics.py) and
// publishes what its user says there. courant.js picks the transport, reconnects, and
// delivers what was missed while offline, once and in order; this page only shows things.
// Who is in the room, and who of them is typing, is the topic's presence: this page is
// tracked with the meta {typing}, which it changes while its user types.
import { avatar, client } from "../demo/site.js";
import { appendMessage } from "./message.js";

const root = document.querySelector("[data-chat]");
const list = root.querySelector("[data-messages]");
const status = root.querySelector("[data-status]");
const notice = root.querySelector("[data-notice]");
const staff = document.querySelector("[data-staff]");
const here = document.querySelector("[data-here]");
const typingLine = root.querySelector("[data-typing]");
const form = root.querySelector("[data-form]");
const input = form.elements.text;
const me = root.dataset.me;
const myKey = document.body.dataset.userId;
// How long after the last key the page stops showing its user as typing, in ms.
const TYPING_MS = 3000;

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

const LABELS = { connecting: "connecting…", reconnecting: "reconnecting…", closed: "offline" };
function showState(state) {
  status.textContent = state === "open" ? `live · ${client.transport}` : LABELS[state];
  status.classList.toggle("live", state === "open");
}
showState(client.state);
client.on("state", showState);
client.on("error", (error) => showNotice(`Disconnected for good: ${error.message}`, true));

// Who is here (one chip per user, however many tabs each has open; the commas are for the
// text, hidden by the stylesheet), and who of the others is typing in any of their tabs.
function showMembers(members) {
  const names = Object.values(members).map((metas) => metas[0].name).sort();
  const chips = [];
  names.forEach((name, index) => {
    if (index) {
      const comma = document.createElement("span");
      comma.className = "sep";
      comma.textContent = ", ";
      chips.push(comma);
    }
    chips.push(avatar(name));
  });
  here.replaceChildren(...chips);
  const typing = Object.entries(members)
    .filter(([key, metas]) => key !== myKey && metas.some((meta) => meta.typing))
    .map(([, metas]) => metas[0].name)
    .sort();
  showTyping(typing);
}

function showTyping(names) {
  if (!names.length) {
    typingLine.replaceChildren();
    return;
  }
  const dots = document.createElement("span");
  dots.className = "typing-dots";
  dots.setAttribute("aria-hidden", "true");
  dots.append(...[1, 2, 3].map(() => document.createElement("i")));
  const who =
    names.length === 1
      ? `${names[0]} is typing…`
      : names.length <= 3
        ? `${names.slice(0, -1).join(", ")} and ${names.at(-1)} are typing…`
        : `${names.length} people are typing…`;
  typingLine.replaceChildren(dots, who);
}

const room = client.subscribe(root.dataset.topic, {
  presence: { typing: false }, // ChatRoom.clean_presence adds the name
  onPresence: showMembers,
  onMessage: show,
  onGap: () => showNotice("Some messages were missed while this page was offline.", true),
  onError: (error) => showNotice(`Cannot follow this room: ${error.message}`),
});

// Typing: the meta changes when the user starts typing and when they stop (TYPING_MS
// without a key, or the message sent), never per key.
let typing = false;
let idle = null;
function setTyping(now) {
  clearTimeout(idle);
  if (now) idle = setTimeout(() => setTyping(false), TYPING_MS);
  if (now === typing) return;
  typing = now;
  // A refusal or a dropped connection only costs the indicator: nothing to tell the user.
  room.setPresence({ typing }).catch(() => {});
}
input.addEventListener("input", () => setTyping(input.value.trim() !== ""));

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
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  setTyping(false);
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
