// Devices: the server-rendered list, kept current by chat_update on the "chat" channel.

import { el, formatTime, startConsole } from "../ui.js";

const client = startConsole();
const list = document.getElementById("device-list");
const search = list.dataset.search.toLowerCase();

function touch(device, message, added) {
  let row = list.querySelector(`li[data-device="${CSS.escape(device)}"]`);
  if (!row) {
    if (search && !device.toLowerCase().includes(search)) return;
    row = el(
      "li",
      { dataset: { device } },
      el(
        "a",
        { href: `${encodeURIComponent(device)}/` },
        el("span", { class: "device-name" }, device),
        el("span", { class: "muted device-meta" }, device, " · ", el("span", { class: "count" }, "0"), " messages"),
        el("span", { class: "last-message" }),
        el("time", { class: "muted" }),
      ),
    );
  }
  list.prepend(row); // most recent first
  row.querySelector(".last-message").textContent = message.content;
  const time = row.querySelector("time");
  time.dateTime = message.created_at;
  time.textContent = formatTime(message.created_at);
  const count = row.querySelector(".count");
  count.textContent = String(Number(count.textContent || 0) + added);
  row.classList.add("flash");
  setTimeout(() => row.classList.remove("flash"), 1500);
}

for (const time of list.querySelectorAll("time[datetime]")) if (time.dateTime) time.textContent = formatTime(time.dateTime);

client.subscribe("chat", (frame) => {
  if (frame.type !== "chat_update" || !frame.payload.device) return;
  const messages = frame.payload.messages;
  if (messages.length) touch(frame.payload.device, messages[messages.length - 1], messages.length);
});

client.start();
