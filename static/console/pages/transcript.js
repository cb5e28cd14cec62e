// A device's live transcript: chat:<device pk> snapshot, then chat_update appended as it arrives.

import { el, formatTime, startConsole } from "../ui.js";

const client = startConsole();
const list = document.getElementById("transcript");
const devicePk = list.dataset.devicePk; // channels name a device by its primary key
const messages = new Map(); // id -> message; snapshots merge in, so a reconnect loses nothing
let sessionFilter = "";

const ROLE_LABEL = { user: "User", agent: "Agent", tool: "Tool" };

function toolText(message) {
  const args = message.tool_arguments;
  if (args == null || args === "") return message.content;
  return typeof args === "string" ? args : JSON.stringify(args, null, 1);
}

function bubble(message) {
  const role = ROLE_LABEL[message.role] ? message.role : "agent";
  const who = role === "user" && message.speaker ? `${ROLE_LABEL.user} · ${message.speaker}` : ROLE_LABEL[role];
  return el(
    "li",
    { class: `message role-${role}`, dataset: { id: message.id, session: message.session_id || "" } },
    el("div", { class: "message-meta" }, el("span", { class: "who" }, who), role === "tool" && message.tool_name ? el("code", {}, message.tool_name) : null, el("time", { datetime: message.created_at }, formatTime(message.created_at))),
    el("div", { class: "message-body" }, role === "tool" ? el("pre", {}, toolText(message)) : message.content),
  );
}

function ordered() {
  return [...messages.values()].sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id - b.id));
}

function render() {
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const shown = ordered().filter((m) => !sessionFilter || m.session_id === sessionFilter);
  const items = [];
  let session = null;
  for (const message of shown) {
    if (message.session_id !== session) {
      session = message.session_id;
      items.push(el("li", { class: "session-break muted" }, `Session ${session || "—"}`));
    }
    items.push(bubble(message));
  }
  if (!items.length) items.push(el("li", { class: "muted" }, "No messages yet: they appear here as the device talks."));
  list.replaceChildren(...items);
  if (nearBottom || !render.scrolled) {
    list.scrollTop = list.scrollHeight;
    render.scrolled = true;
  }
}

function merge(batch, { highlight }) {
  const fresh = batch.filter((m) => !messages.has(m.id));
  for (const message of batch) messages.set(message.id, message);
  render();
  if (highlight) {
    for (const message of fresh) list.querySelector(`li[data-id="${message.id}"]`)?.classList.add("flash");
  }
}

for (const time of document.querySelectorAll("#session-list time[datetime]")) if (time.dateTime) time.textContent = formatTime(time.dateTime);

for (const button of document.querySelectorAll(".session-filter")) {
  button.addEventListener("click", () => {
    sessionFilter = button.dataset.session;
    for (const other of document.querySelectorAll(".session-filter")) other.setAttribute("aria-pressed", String(other === button));
    render();
  });
}

client.subscribe(`chat:${devicePk}`, (frame) => {
  if (frame.type === "chat:snapshot") {
    merge(frame.payload.messages, { highlight: messages.size > 0 });
  } else if (frame.type === "chat_update") {
    merge(frame.payload.messages, { highlight: true });
  } else if (frame.type === "error") {
    list.replaceChildren(el("li", { class: "missing" }, frame.payload.reason));
  }
});

client.start();
