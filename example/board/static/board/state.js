// What a document's presence means on the board: who reads it, who edits it, and the one
// state its card shows. `members` is subscription.presence of the document's topic
// (doc:<id>): each user's key mapped to one meta per open page, {mode, name}.

import { avatar } from "../demo/site.js";

// Each state with its word and its symbol: the card never relies on color alone.
export const STATES = {
  free: { label: "Free", symbol: "✓" },
  reading: { label: "Reading", symbol: "◉" },
  editing: { label: "Editing", symbol: "✎" },
};

// Editing wins over reading: a user with one page reading and another editing is an
// editor, and one editor makes the document "editing" whoever else reads it.
export function documentState(members) {
  const editing = [];
  const reading = [];
  for (const metas of Object.values(members)) {
    if (!metas.length) continue;
    const name = metas[0].name;
    (metas.some((meta) => meta.mode === "editing") ? editing : reading).push(name);
  }
  editing.sort();
  reading.sort();
  const state = editing.length ? "editing" : reading.length ? "reading" : "free";
  return { state, editing, reading };
}

// "Editing: Bob · Reading: Alice, Carol", or "Nobody has it open".
export function describe({ editing, reading }) {
  const parts = [];
  if (editing.length) parts.push(`Editing: ${editing.join(", ")}`);
  if (reading.length) parts.push(`Reading: ${reading.join(", ")}`);
  return parts.join(" · ") || "Nobody has it open";
}

// Page `page` (from 1) of `rows`, `perPage` a page: {shown, page, pages}. A page past the
// last (documents were deleted meanwhile) shows the last.
export function pageOf(rows, page, perPage) {
  const pages = Math.max(1, Math.ceil(rows.length / perPage));
  const number = Math.min(Math.max(1, Math.floor(page) || 1), pages);
  return { shown: rows.slice((number - 1) * perPage, number * perPage), page: number, pages };
}

// Whether the user `userId` may save `doc` (the server checks again: board.save).
export function canEdit(doc, userId) {
  return !doc.locked || doc.author.id === userId;
}

// An avatar per person, ringed with the color of what they do (the text says it too).
export function people({ editing, reading }) {
  const ringed = (mode) => (name) => {
    const circle = avatar(name, { label: false });
    circle.classList.add(mode);
    circle.title = `${name}, ${mode}`;
    return circle;
  };
  return [...editing.map(ringed("editing")), ...reading.map(ringed("reading"))];
}
