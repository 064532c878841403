// The board's dashboard: how many users are on the site, and for each document who has it
// open and how. Each card watches its document's topic (doc:<id>) without a presence meta,
// so the dashboard sees who reads and edits without being counted as a reader itself.
import { avatar, client, online, onOnline } from "../demo/site.js";
import { STATES, describe, documentState, people } from "./state.js";

const list = document.querySelector("[data-documents]");
const empty = document.querySelector("[data-empty]");
const count = document.querySelector("[data-online-count]");
const countLabel = document.querySelector("[data-online-label]");
const names = document.querySelector("[data-online-names]");
const notice = document.querySelector("[data-notice]");
const cards = new Map(); // document id -> {element, subscription}

function showOnline(members) {
  const metas = Object.values(members);
  count.textContent = String(metas.length);
  countLabel.textContent = metas.length === 1 ? "user on the site" : "users on the site";
  names.replaceChildren(...metas.map((entries) => entries[0].name).sort().map((name) => avatar(name)));
}

function element(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}

function showDocument(card, doc) {
  const link = card.querySelector("[data-title]");
  link.textContent = doc.title;
  link.href = `/board/${doc.id}/`;
  card.querySelector("[data-lock]").hidden = !doc.locked;
  const updated = new Date(doc.updated).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  const by = doc.updated_by ? ` by ${doc.updated_by.name}` : "";
  card.querySelector("[data-meta]").textContent = `${doc.author.name}'s · saved ${updated}${by}`;
}

function showPresence(card, members) {
  const summary = documentState(members);
  const { label, symbol } = STATES[summary.state];
  card.dataset.state = summary.state;
  card.querySelector("[data-state-label]").textContent = `${symbol} ${label}`;
  card.querySelector("[data-people]").replaceChildren(...people(summary));
  card.querySelector("[data-who]").textContent = describe(summary);
}

function addCard(doc) {
  const card = element("li", "card doc-card");
  card.dataset.doc = doc.id;
  const head = element("div", "doc-card-head");
  const title = element("a", "doc-title");
  title.dataset.title = "";
  const lock = element("span", "badge warn", "Locked");
  lock.dataset.lock = "";
  head.append(title, lock);
  const meta = element("p", "muted small doc-meta");
  meta.dataset.meta = "";
  const state = element("p", "doc-state");
  const badge = element("span", "state-badge");
  badge.dataset.stateLabel = "";
  const faces = element("span", "people");
  faces.dataset.people = "";
  state.append(badge, faces);
  const who = element("p", "doc-who");
  who.dataset.who = "";
  const open = element("p", "doc-actions");
  const read = element("a", "button ghost small", "Read");
  read.href = `/board/${doc.id}/`;
  const edit = element("a", "button ghost small", "Edit");
  edit.href = `/board/${doc.id}/?mode=edit`;
  open.append(read, edit);
  card.append(head, meta, state, who, open);
  showDocument(card, doc);
  showPresence(card, {});
  list.append(card);

  const subscription = client.subscribe(`doc:${doc.id}`, {
    // No presence meta: watch who is there without being counted.
    onPresence: (members) => showPresence(card, members),
    onMessage: (event) => {
      if (event.type === "saved" || event.type === "locked") showDocument(card, event.document);
    },
    onError: (error) => {
      card.querySelector("[data-who]").textContent = `Cannot follow it: ${error.message}`;
    },
  });
  cards.set(doc.id, { element: card, subscription });
}

JSON.parse(document.getElementById("documents").textContent).forEach(addCard);
empty.hidden = cards.size > 0;

showOnline(online.presence);
onOnline(showOnline);
client.on("state", (state) => {
  notice.hidden = state === "open" || state === "connecting";
  notice.textContent = "Reconnecting… what the board shows may be out of date.";
});

// For the browser console (and the browser tests).
window.board = { client, cards };
