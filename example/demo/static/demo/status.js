// The status page: this process's counts, asked for every two seconds over the page's
// connection (the RPC method demo.stats), and who is online from site:online presence.
import { avatar, client, onOnline } from "./site.js";

const PERIOD = 2000;
const field = (name) => document.querySelector(`[data-stat="${name}"]`);
const state = document.querySelector("[data-connection-state]");
const transport = document.querySelector("[data-transport]");
const updated = document.querySelector("[data-updated]");

function set(element, value) {
  const text = String(value);
  if (element.textContent === text) return;
  element.textContent = text;
  // A new number flashes, so the eye catches what changed.
  element.classList.remove("flash");
  void element.offsetWidth;
  element.classList.add("flash");
}

function showState() {
  state.textContent = client.state === "open" ? "open" : `${client.state}…`;
  state.className = client.state === "open" ? "ok" : "muted";
  transport.textContent = client.transport ?? "–";
}
showState();
client.on("state", showState);

async function refresh() {
  try {
    const stats = await client.call("demo.stats");
    set(field("connections"), stats.connections);
    set(field("topics"), stats.topics);
    set(field("pid"), stats.pid);
    document.querySelector("[data-engine]").textContent = stats.engine;
    document.querySelector("[data-engine-class]").textContent = stats.engine_class;
    updated.textContent = new Date().toLocaleTimeString();
  } catch (error) {
    updated.textContent = `not updated (${error.code})`;
  } finally {
    setTimeout(refresh, PERIOD);
  }
}
refresh();

const list = document.querySelector("[data-online-list]");
onOnline((members) => {
  const names = Object.values(members).map((metas) => metas[0].name).sort();
  set(field("online"), names.length);
  list?.replaceChildren(...names.map((name) => avatar(name)));
});
