// Devices: the server-rendered list, kept current by chat_update on the "chat" channel.

import { el, formatTime, startConsole } from "../ui.js";

const client = startConsole();
const list = document.getElementById("device-list");
const search = list.dataset.search.toLowerCase();

// A device is found and linked by its primary key: its identifier may hold any character.
function touch(device, pk, message, added) {
  let row = list.querySelector(`li[data-device-pk="${CSS.escape(String(pk))}"]`);
  if (!row) {
    if (search && !device.toLowerCase().includes(search)) return;
    row = el(
      "li",
      { dataset: { device, devicePk: String(pk) } },
      el(
        "a",
        { href: `${encodeURIComponent(String(pk))}/` },
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
  const { device, device_pk: pk, messages } = frame.payload;
  if (frame.type !== "chat_update" || pk == null) return;
  if (messages.length) touch(device, pk, messages[messages.length - 1], messages.length);
});

client.start();
