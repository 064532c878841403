// The chat's index: each listed room's topic is followed without being counted in it (no
// presence meta), so the page shows live how many people are in each room and how many
// messages it has. One connection carries them all (at most 20 rooms are listed).
import { client } from "../demo/site.js";

for (const row of document.querySelectorAll("[data-room]")) {
  const members = row.querySelector("[data-members]");
  const count = row.querySelector("[data-count]");
  let messages = Number(count.dataset.count);
  client.subscribe(`chat:${row.dataset.room}`, {
    onPresence(present) {
      const here = Object.keys(present).length;
      members.textContent = `${here} here`;
      members.hidden = here === 0;
    },
    onMessage() {
      messages += 1;
      count.textContent = `${messages} message${messages === 1 ? "" : "s"}`;
      count.classList.remove("flash");
      void count.offsetWidth; // restart the animation
      count.classList.add("flash");
    },
  });
}
