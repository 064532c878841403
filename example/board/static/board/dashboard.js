// The board's dashboard: how many users are on the site, and for each document who has it
// open and how.
//
// The documents come from `board:docs`, where DocumentBinding (topics.py) sends every
// document created, renamed, locked or deleted: client.sync() keeps them, in title order.
// Each card shown watches its document's topic (doc:<id>) without a presence meta, so the
// dashboard sees who reads and edits without being counted as a reader itself; a card
// that goes (deleted, or off this page) stops watching.
import { avatar, client, online, onOnline } from "../demo/site.js";
import { STATES, describe, documentState, pageOf, people } from "./state.js";

const list = document.querySelector("[data-documents]");
const empty = document.querySelector("[data-empty]");
const pager = document.querySelector("[data-pages]");
const count = document.querySelector("[data-online-count]");
const countLabel = document.querySelector("[data-online-label]");
const names = document.querySelector("[data-online-names]");
const notice = document.querySelector("[data-notice]");
const perPage = Number(list.dataset.perPage);
const cards = new Map(); // document id -> {element, subscription}

function showOnline(members) {
  const metas = Object.values(members);
  count.textContent = String(metas.length);
  countLabel.textContent = metas.length === 1 ? "user on the site" : "users on the site";
  const sorted = metas.map((entries) => entries[0].name).sort();
  names.replaceChildren(...sorted.map((name) => avatar(name)));
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
  link.href = `/board/${doc.pk}/`;
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

function newCard(doc) {
  const card = element("li", "card doc-card");
  card.dataset.doc = doc.pk;
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
  read.href = `/board/${doc.pk}/`;
  const edit = element("a", "button ghost small", "Edit");
  edit.href = `/board/${doc.pk}/?mode=edit`;
  open.append(read, edit);
  card.append(head, meta, state, who, open);
  showPresence(card, {});

  const subscription = client.subscribe(`doc:${doc.pk}`, {
    // No presence meta: watch who is there without being counted.
    onPresence: (members) => showPresence(card, members),
    onError: (error) => {
      card.querySelector("[data-who]").textContent = `Cannot follow it: ${error.message}`;
    },
  });
  return { element: card, subscription };
}

function showPager(page, pages) {
  pager.hidden = pages === 1;
  pager.querySelector("[data-page-label]").textContent = `Page ${page} of ${pages}`;
  const link = (selector, number) => {
    const anchor = pager.querySelector(selector);
    anchor.hidden = number < 1 || number > pages;
    anchor.href = `?page=${number}`;
  };
  link("[data-page-previous]", page - 1);
  link("[data-page-next]", page + 1);
}

// Show this page's documents: cards that go stop watching, cards that come start.
function render(items) {
  const wanted = new URL(location.href).searchParams.get("page");
  const { shown, page, pages } = pageOf([...items.values()], Number(wanted) || 1, perPage);
  const keep = new Set(shown.map((doc) => doc.pk));
  for (const [pk, card] of cards) {
    if (keep.has(pk)) continue;
    card.subscription.unsubscribe();
    card.element.remove();
    cards.delete(pk);
  }
  for (const doc of shown) {
    if (!cards.has(doc.pk)) cards.set(doc.pk, newCard(doc));
    const card = cards.get(doc.pk);
    showDocument(card.element, doc);
    list.append(card.element); // in title order: append moves a card already there
  }
  empty.hidden = shown.length > 0;
  showPager(page, pages);
}

const byTitle = (a, b) => a.title.localeCompare(b.title) || a.pk - b.pk;
const documents = client.sync("board:docs", {
  initial: JSON.parse(document.getElementById("documents").textContent),
  load: () => client.call("board.documents"),
  order: byTitle,
  onChange: render, // with the initial rows too, at once
  onError: (error) => {
    notice.textContent = `The list of documents is not live: ${error.message}`;
    notice.hidden = false;
  },
});

showOnline(online.presence);
onOnline(showOnline);
client.on("state", (state) => {
  if (state === "reconnecting") {
    notice.textContent = "Reconnecting… what the board shows may be out of date.";
  }
  notice.hidden = state !== "reconnecting";
});

// For the browser console (and the browser tests).
window.board = { client, cards, documents };
