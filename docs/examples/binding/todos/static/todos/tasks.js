// todos/static/todos/tasks.js
/** Show the tasks this user may see in `list` (a <ul>), and keep them up to date. */
export function showTasks(client, list) {
  return client.sync("todos", {
    load: () => client.call("todos.list"), // the whole state: at first, and after a gap
    order: (a, b) => a.pk - b.pk,
    onChange(items) {
      list.replaceChildren(
        ...[...items.values()].map((task) => {
          const item = document.createElement("li");
          item.textContent = task.done ? `${task.title} (done)` : task.title;
          return item;
        }),
      );
    },
  });
}
