// A document's page: read it or edit it, live. The page is tracked in the presence of the
// document's topic (doc:<id>) with its mode, so every dashboard and every other page of
// the document shows at once who reads and who edits. Saving goes through the RPC method
// board.save, which checks the permission; the server then publishes a "saved" event that
// every page of the document receives: the others notify their user and show the new text.
import { client, notify } from "../demo/site.js";
import { STATES, canEdit, describe, documentState, people } from "./state.js";

const root = document.querySelector("[data-document-page]");
const title = document.querySelector("[data-title]");
const hereFaces = root.querySelector("[data-here-people]");
const me = Number(document.body.dataset.userId);
const readView = root.querySelector("[data-read]");
const form = root.querySelector("[data-edit]");
const here = root.querySelector("[data-here]");
const hereState = root.querySelector("[data-here-state]");
const notice = root.querySelector("[data-notice]");
const error = root.querySelector("[data-error]");
const status = root.querySelector("[data-save-status]");
const lockBadge = root.querySelector("[data-lock-badge]");
const lockToggle = root.querySelector("[data-lock-toggle]");
const modeButtons = document.querySelectorAll("[data-mode-button]");

let doc = JSON.parse(document.getElementById("document").textContent);
let mode = root.dataset.mode;
// The revision the form's text is based on: board.save refuses it once someone saved
// since, rather than overwrite their text.
let base = doc.revision;

function showNotice(text, action) {
  notice.replaceChildren(text);
  if (action) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link";
    button.textContent = action.label;
    button.addEventListener("click", () => {
      notice.hidden = true;
      action.run();
    });
    notice.append(" ", button);
  }
  notice.hidden = false;
}

function showError(text, code) {
  error.textContent = text;
  error.dataset.code = code || "";
  error.hidden = !text;
}

function showDocument() {
  title.textContent = doc.title;
  readView.querySelector("[data-body]").textContent = doc.body;
  document.title = `${doc.title} · Courant demo`;
  lockBadge.hidden = !doc.locked;
  lockBadge.textContent = `Locked by ${doc.author.name}: only ${doc.author.name} can save it`;
  if (lockToggle) lockToggle.checked = doc.locked;
  const editButton = document.querySelector('[data-mode-button="editing"]');
  editButton.disabled = !canEdit(doc, me) && mode !== "editing";
}

function loadIntoForm() {
  form.elements.title.value = doc.title;
  form.elements.body.value = doc.body;
  base = doc.revision;
}

function formChanged() {
  return form.elements.title.value !== doc.title || form.elements.body.value !== doc.body;
}

function showMode() {
  root.dataset.mode = mode;
  readView.hidden = mode === "editing";
  form.hidden = mode !== "editing";
  for (const button of modeButtons) {
    button.setAttribute("aria-pressed", String(button.dataset.modeButton === mode));
  }
  showDocument();
}

async function setMode(next) {
  if (next === mode) return;
  const previous = mode;
  mode = next;
  if (mode === "editing") loadIntoForm();
  showMode();
  const url = new URL(location.href);
  if (mode === "editing") url.searchParams.set("mode", "edit");
  else url.searchParams.delete("mode");
  history.replaceState(null, "", url);
  try {
    await subscription.setPresence({ mode });
  } catch (refused) {
    mode = previous;
    showMode();
    showNotice(`Cannot switch: ${refused.message}`);
  }
}

function onEvent(event) {
  if (event.type !== "saved" && event.type !== "locked") return;
  const before = doc;
  doc = event.document;
  const mine = event.by.id === me;
  if (event.type === "locked") {
    if (!mine && mode === "editing" && !canEdit(doc, me)) {
      showNotice(`${event.by.name} locked this document: only ${doc.author.name} can save it now.`);
    }
    showDocument();
    return;
  }
  if (mine) {
    showDocument(); // saved here or in another page of this user's
    return;
  }
  notify(`${event.by.name} saved ${doc.title}`, doc.body.slice(0, 140), { tag: `doc-${doc.id}` });
  showDocument();
  if (mode !== "editing") return;
  const untouched =
    form.elements.title.value === before.title && form.elements.body.value === before.body;
  if (untouched) {
    loadIntoForm(); // nothing of ours to lose: edit on from the new version
  } else {
    showNotice(`${event.by.name} saved a newer version while you were editing.`, {
      label: "Load it (your changes are lost)",
      run: loadIntoForm,
    });
  }
}

const subscription = client.subscribe(`doc:${doc.id}`, {
  presence: { mode },
  onMessage: onEvent,
  onPresence(members) {
    const summary = documentState(members);
    root.dataset.state = summary.state;
    const { label, symbol } = STATES[summary.state];
    hereState.textContent = `${symbol} ${label}`;
    here.textContent = describe(summary);
    hereFaces.replaceChildren(...people(summary));
  },
  onError: (refused) => showNotice(`Cannot follow this document: ${refused.message}`),
});
// Once per page load, not on reconnections: the author hears of this opening once.
const opened = client.call("board.opened", { id: doc.id, mode }).catch(() => null);

for (const button of modeButtons) {
  button.addEventListener("click", () => setMode(button.dataset.modeButton));
}

form.addEventListener("submit", async (submit) => {
  submit.preventDefault();
  showError("");
  status.textContent = "Saving…";
  const save = form.querySelector("[data-save]");
  save.disabled = true;
  try {
    doc = await client.call("board.save", {
      id: doc.id,
      title: form.elements.title.value,
      body: form.elements.body.value,
      revision: base,
    });
    base = doc.revision;
    status.textContent = `Saved (revision ${doc.revision})`;
    showDocument();
  } catch (refused) {
    status.textContent = "";
    showError(`Not saved: ${refused.message}`, refused.code);
  } finally {
    save.disabled = false;
  }
});

form.addEventListener("input", () => {
  status.textContent = formChanged() ? "Unsaved changes" : "";
});

lockToggle?.addEventListener("change", async () => {
  try {
    doc = await client.call("board.lock", { id: doc.id, locked: lockToggle.checked });
  } catch (refused) {
    showNotice(`Cannot change the lock: ${refused.message}`);
  }
  showDocument();
});

if (mode === "editing") loadIntoForm();
showMode();
// For the browser console (and the browser tests).
window.board = {
  client,
  subscription,
  opened, // resolves with {notified}: whether the author was told of this opening
  get doc() {
    return doc;
  },
  get mode() {
    return mode;
  },
};
