// The live blog's reader page. The server renders the published posts; this script keeps
// them live: it follows `blog:posts`, where PostBinding (blog/topics.py) sends every
// change of a post, through courant.js's `client.sync()`, and makes the list show what
// the synced collection holds. New posts appear, edited ones change, deleted or
// unpublished ones vanish, each with a short highlight. A draft comes as a row with
// `published: false` and nothing else (the binding never sends a draft's content): it is
// not shown, and a post that becomes one is removed.
import { avatar, client, notify } from "../demo/site.js";

const list = document.querySelector("[data-posts]");
const empty = document.querySelector("[data-empty]");
const status = document.querySelector("[data-status]");
const initial = JSON.parse(document.getElementById("posts-data").textContent);

const LABELS = { connecting: "connecting…", reconnecting: "reconnecting…", closed: "offline" };
function showState(state) {
  status.textContent = state === "open" ? "live: changes appear as they are saved" : LABELS[state];
  status.classList.toggle("live", state === "open");
}
showState(client.state);
client.on("state", showState);

const when = (iso) =>
  new Date(iso).toLocaleString([], { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });

/** A post's element, as blog/post.html renders it. */
function build(post) {
  const item = document.createElement("li");
  item.className = "card post";
  item.id = `post-${post.pk}`;
  item.dataset.post = post.pk;
  const title = document.createElement("h2");
  title.dataset.title = "";
  const meta = document.createElement("div");
  meta.className = "post-meta";
  const time = document.createElement("time");
  time.dataset.created = "";
  const edited = document.createElement("span");
  edited.className = "badge";
  edited.dataset.edited = "";
  edited.textContent = "edited";
  meta.append(avatar(post.author), time, edited);
  const body = document.createElement("div");
  body.className = "post-body";
  body.dataset.body = "";
  item.append(title, meta, body);
  fill(item, post);
  return item;
}

/** Show `post` in `item`; true if anything it shows changed. */
function fill(item, post) {
  const shown = item.dataset.shown;
  const now = JSON.stringify([post.title, post.body, post.author, post.created, post.edited]);
  if (shown === now) return false;
  item.dataset.shown = now;
  item.querySelector("[data-title]").textContent = post.title;
  item.querySelector("[data-body]").textContent = post.body;
  const time = item.querySelector("[data-created]");
  time.dateTime = post.created;
  time.textContent = when(post.created);
  item.querySelector("[data-edited]").hidden = !post.edited;
  return shown !== undefined;
}

function flash(item) {
  item.classList.remove("highlight");
  void item.offsetWidth; // restart the animation
  item.classList.add("highlight");
}

const newestFirst = (a, b) => b.created.localeCompare(a.created) || b.pk - a.pk;

/** Make the list show the published rows of `posts` (pk -> row) in their order: add,
 * change and remove elements, highlighting what changed. */
function render(posts) {
  const wanted = [...posts.values()].filter((post) => post.published);
  const elements = new Map(
    [...list.querySelectorAll("[data-post]:not(.leaving)")].map((item) => [item.dataset.post, item]),
  );
  let previous = null;
  for (const post of wanted) {
    let item = elements.get(String(post.pk));
    elements.delete(String(post.pk));
    if (!item) {
      item = build(post);
      flash(item);
    } else if (fill(item, post)) {
      flash(item);
    }
    const place = previous ? previous.nextElementSibling : list.firstElementChild;
    if (place !== item) list.insertBefore(item, place);
    previous = item;
  }
  for (const gone of elements.values()) {
    gone.classList.add("leaving");
    gone.addEventListener("animationend", () => gone.remove(), { once: true });
    setTimeout(() => gone.remove(), 400); // without animations (reduced motion), at once
  }
  empty.hidden = wanted.length > 0;
}

// The server's rendering, in the reader's own time zone.
for (const item of list.querySelectorAll("[data-post]")) {
  const post = initial.find((candidate) => String(candidate.pk) === item.dataset.post);
  if (post) fill(item, post);
}

const posts = client.sync("blog:posts", {
  initial,
  load: () => client.call("blog.posts"), // after a gap, and to catch up at first
  // Drafts have no `created`: they go last, and are never shown.
  order: (a, b) => (a.published && b.published ? newestFirst(a, b) : b.published - a.published),
  onChange(items, event) {
    render(items);
    const { action, row, previous } = event;
    if (row?.published && (action === "create" || (action === "update" && !previous.published))) {
      notify("New post", row.title, { tag: `post-${row.pk}`, url: `#post-${row.pk}` });
    }
  },
});

// For the browser console (and the browser tests).
window.blog = { client, posts };
