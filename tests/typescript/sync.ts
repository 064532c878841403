// Type-checked by tests/test_client_types.py with `tsc --strict`: the declarations of
// courant.js, used as a page would use them. It is never run.
import { connect, CourantError, Row, Sync, SyncEvent } from "../../courant/static/courant/courant.js";

interface Task {
  title: string;
  done: boolean;
  owner: number;
}

const client = connect("/courant/", { transports: ["websocket", "sse"], timeout: 5000 });

function render(items: Map<string | number, Row<Task>>): string[] {
  return [...items.values()].map((task) => `${task.pk}: ${task.title.toUpperCase()}`);
}

const tasks: Sync<Task> = client.sync<Task>("todos", {
  initial: [{ pk: 1, title: "write docs", done: false, owner: 7 }],
  load: () => client.call<Row<Task>[]>("todos.list"),
  order: (a, b) => Number(a.done) - Number(b.done) || a.title.localeCompare(b.title),
  onChange(items, event: SyncEvent<Task>) {
    render(items);
    switch (event.action) {
      case "create":
        console.log("new", event.row.title);
        break;
      case "update":
        console.log(event.previous.title, "->", event.row.title);
        break;
      case "delete":
        console.log("gone", event.previous.title);
        break;
      case "load":
        console.log("loaded because", event.reason, items.size);
        break;
    }
  },
  onGap(info) {
    console.log(info.reason, info.epoch, info.offset);
  },
  onError(error) {
    if (error instanceof CourantError) console.log(error.code);
  },
});

tasks.ready.then(() => tasks.items.get(1)?.done);
tasks.subscription.topic.toUpperCase();
tasks.reload().then(() => tasks.unsubscribe());

const room = client.subscribe<{ text: string }>("chat:lobby", {
  onMessage(data, meta) {
    console.log(meta.offset, data.text);
  },
});
room.publish({ text: "hi" }).then((position) => position.epoch);
