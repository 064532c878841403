// One chat message as a list item, shared by the room page (room.js) and the low-level
// WebSocket page (socket.js). `event` is ChatMessage.as_event(); `me` the viewer's name.
export function appendMessage(list, event, me) {
  const item = document.createElement("li");
  item.className = event.author === me ? "mine" : "";
  item.dataset.id = event.id;
  const author = document.createElement("b");
  author.textContent = event.author;
  const time = document.createElement("time");
  time.dateTime = event.created;
  time.textContent = new Date(event.created).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const text = document.createElement("p");
  text.textContent = event.text;
  item.append(author, time, text);
  list.append(item);
  list.scrollTop = list.scrollHeight;
}
