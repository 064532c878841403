// Must NOT type-check (tests/test_client_types.py): each line marked "error:" misuses
// the declarations, and tsc must report exactly those lines.
import { connect, Row } from "../../courant/static/courant/courant.js";

interface Task {
  title: string;
}

const client = connect();
client.sync<Task>("todos", {
  onChange(items, event) {
    if (event.action === "delete") console.log(event.row.title); // error: a delete has no row
    if (event.action === "load") console.log(event.pk); // error: a load has no pk
  },
  initial: [{ title: "no pk" }], // error: rows carry their pk
  load: () => Promise.resolve([] as Row<{ name: string }>[]), // error: rows of another shape
});
