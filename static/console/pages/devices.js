// Devices: the server-rendered list, grouped by agent (as the xiaozhi manager shows it),
// kept current by chat_update on the "chat" channel; and the search of every device's
// messages (GET /api/v2/messages?q=, paged by its cursor) with its export.

import { t, tf, tn } from "../i18n.js";
import { el, formatTime, startConsole } from "../ui.js";

const client = startConsole();
const list = document.getElementById("device-list");
const search = list.dataset.search.toLowerCase();
// The source filter (shown when the hub has several sources): "" is all of them.
const sourceFilter = document.getElementById("device-source")?.value || "";

function countText(count) {
  return tn("%(count)s message", "%(count)s messages", count, { count });
}

function deviceCountText(count) {
  return tn("%(count)s device", "%(count)s devices", count, { count });
}

// A device the page did not list (it talked for the first time): its agent is not in the
// update, so it joins the group of devices without one until the page is reloaded.
function otherGroup() {
  let group = list.querySelector('section.agent-group[data-agent=""]');
  if (!group) {
    group = el(
      "section",
      { class: "agent-group", dataset: { agent: "" }, "aria-label": list.dataset.noAgent },
      el("h2", { class: "agent-heading" }, el("span", { class: "agent-name" }, list.dataset.noAgent), " ", el("span", { class: "muted agent-count" })),
      el("ul"),
    );
    list.append(group);
  }
  return group;
}

function newRow(device, pk) {
  return el(
    "li",
    { dataset: { device, devicePk: String(pk), name: device } },
    el(
      "a",
      { href: `${encodeURIComponent(String(pk))}/` },
      el("span", { class: "device-name" }, device),
      el("span", { class: "muted device-meta" }, el("span", { class: "count", dataset: { count: "0" } }, countText(0))),
      el("span", { class: "last-message" }),
      el("time", { class: "muted" }),
    ),
  );
}

// A device is found and linked by its primary key: its identifier may hold any character.
function touch(device, pk, message, added) {
  let row = list.querySelector(`li[data-device-pk="${CSS.escape(String(pk))}"]`);
  if (!row) {
    if (search && !device.toLowerCase().includes(search)) return;
    row = newRow(device, pk);
  }
  const group = row.closest("section.agent-group") || otherGroup();
  group.querySelector("ul").prepend(row); // most recent first, in its group
  list.prepend(group); // and its group first
  group.querySelector(".agent-count").textContent = deviceCountText(group.querySelectorAll("li").length);
  row.querySelector(".last-message").textContent = message.content;
  const time = row.querySelector("time");
  time.dateTime = message.created_at;
  time.textContent = formatTime(message.created_at);
  const count = row.querySelector(".count");
  const total = Number(count.dataset.count || 0) + added;
  count.dataset.count = String(total);
  count.textContent = countText(total);
  row.classList.add("flash");
  setTimeout(() => row.classList.remove("flash"), 1500);
}

for (const time of list.querySelectorAll("time[datetime]")) if (time.dateTime) time.textContent = formatTime(time.dateTime);

client.subscribe("chat", (frame) => {
  const { device, device_pk: pk, messages, source } = frame.payload;
  if (frame.type !== "chat_update" || pk == null) return;
  if (sourceFilter && source && source !== sourceFilter) return;
  if (messages.length) touch(device, pk, messages[messages.length - 1], messages.length);
});

client.start();

// --- the search across devices ----------------------------------------------------

const form = document.getElementById("message-search");
const panel = document.getElementById("search-results");
const results = document.getElementById("search-list");
const status = document.getElementById("search-status");
const more = document.getElementById("search-more");
const ROLE_LABEL = { user: t("User"), agent: t("Agent"), tool: t("Tool") };
let query = "";
let next = null; // the query string of the next (older) page

function deviceName(message) {
  const row = message.device_pk == null ? null : list.querySelector(`li[data-device-pk="${CSS.escape(String(message.device_pk))}"]`);
  return row?.dataset.name || message.device || t("No device");
}

function result(message) {
  const href = message.device_pk == null ? null : `${encodeURIComponent(String(message.device_pk))}/?${new URLSearchParams({ q: query })}`;
  const name = deviceName(message);
  return el(
    "li",
    { class: "search-hit", dataset: { id: message.id, role: message.role } },
    el(
      "div",
      { class: "message-meta" },
      href ? el("a", { href, class: "device-name" }, name) : el("span", { class: "device-name" }, name),
      el("span", { class: "who" }, ROLE_LABEL[message.role] || message.role),
      el("time", { datetime: message.created_at }, formatTime(message.created_at)),
    ),
    el("div", { class: "message-body" }, message.content),
  );
}

async function page(params) {
  status.textContent = t("Searching…");
  more.disabled = true;
  try {
    const response = await fetch(`${form.dataset.searchUrl}?${params}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || Object.values(body).flat().join(" ") || response.statusText);
    results.append(...body.results.map(result));
    next = body.next ? new URL(body.next, location.href).search.slice(1) : null;
    const shown = results.children.length;
    status.textContent = shown ? (next ? "" : tn("%(count)s message found.", "%(count)s messages found.", shown, { count: shown })) : tf("No message matches “%(query)s”.", { query });
  } catch (error) {
    status.textContent = tf("The search failed: %(reason)s", { reason: error.message });
  }
  more.hidden = !next;
  more.disabled = false;
}

// The search and its export keep to the chosen source.
function withSource(params) {
  if (sourceFilter) params.set("source", sourceFilter);
  return params;
}

function exportLink(id, format) {
  const params = withSource(new URLSearchParams({ format, q: query }));
  document.getElementById(id).href = `${form.dataset.exportUrl}?${params}`;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  query = form.elements.q.value.trim();
  if (!query) return;
  panel.hidden = false;
  results.replaceChildren();
  document.getElementById("search-heading").textContent = tf("Messages with “%(query)s” on every device", { query });
  exportLink("search-export-csv", "csv");
  exportLink("search-export-jsonl", "jsonl");
  page(withSource(new URLSearchParams({ q: query, page_size: "50" })));
});

more.addEventListener("click", () => next && page(next));

document.getElementById("search-close").addEventListener("click", () => {
  panel.hidden = true;
  results.replaceChildren();
  form.elements.q.value = "";
});
