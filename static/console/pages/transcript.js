// A device's transcript: the chat:<device pk> snapshot (the newest messages), chat_update
// appended as it arrives, older pages from the REST API (GET /api/v2/devices/<pk>/history,
// followed by its cursor), a session filter, the search of this device's messages (`q`)
// and the export links of what is shown. A message whose payload says `audio: true` (its
// source has audio on, docs/audio.md) gets an audio player that loads nothing until played
// (GET /api/v2/messages/<id>/audio, with Range requests).

import { t, tf } from "../i18n.js";
import { el, formatTime, startConsole } from "../ui.js";

const client = startConsole();
const list = document.getElementById("transcript");
const devicePk = list.dataset.devicePk; // channels name a device by its primary key
const messages = new Map(); // id -> message; snapshots and pages merge in, so nothing is lost
const titles = new Map(); // session id -> its title (or the first words of its first user message)
const views = new Map(); // "<session>|<q>" -> { next, started, matched }
const players = new Map(); // message id -> its <audio> element (messages with `audio: true`)
const olderButton = document.getElementById("load-older");
const olderStatus = document.getElementById("older-status");
const searchForm = document.getElementById("transcript-search");
const clearButton = document.getElementById("transcript-search-clear");
const state = { session: "", sessionPk: "", q: "" };

const ROLE_LABEL = { user: t("User"), agent: t("Agent"), tool: t("Tool") };

for (const button of document.querySelectorAll(".session-filter[data-session]")) {
  if (button.dataset.session && button.dataset.title) titles.set(button.dataset.session, button.dataset.title);
}

function view() {
  const key = `${state.session}|${state.q}`;
  if (!views.has(key)) views.set(key, { next: null, started: false, matched: new Set() });
  return views.get(key);
}

function sessionTitle(sessionId) {
  if (!sessionId) return t("Messages without a session");
  const title = titles.get(sessionId);
  if (title) return title;
  const first = ordered().find((m) => m.session_id === sessionId && m.role === "user" && m.content.trim());
  if (first) return first.content.trim().split(/\s+/).join(" ").slice(0, 40);
  return tf("Session %(id)s", { id: sessionId.length > 12 ? `${sessionId.slice(0, 11)}…` : sessionId });
}

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
    message.audio ? player(message) : null,
  );
}

// preload="none": nothing is fetched (and no lazy copy is made) until the person presses play.
// One element per message, kept across renders: a new message never stops what is playing.
function player(message) {
  let audio = players.get(message.id);
  if (!audio) {
    const src = list.dataset.audioUrl.replace(/\/0\/audio$/, `/${encodeURIComponent(message.id)}/audio`);
    audio = el("audio", { class: "message-audio", controls: true, preload: "none", src, "aria-label": t("Audio of this message") });
    players.set(message.id, audio);
  }
  return audio;
}

function ordered() {
  return [...messages.values()].sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id - b.id));
}

function shown() {
  const current = view();
  const needle = state.q.toLowerCase();
  return ordered().filter(
    (m) =>
      (!state.session || m.session_id === state.session) &&
      (!needle || current.matched.has(m.id) || (m.content || "").toLowerCase().includes(needle)),
  );
}

function render({ keepTop = false } = {}) {
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const fromBottom = list.scrollHeight - list.scrollTop; // kept when older messages go on top
  const items = [];
  let session;
  for (const message of shown()) {
    if (message.session_id !== session) {
      session = message.session_id;
      items.push(el("li", { class: "session-break muted", dataset: { session: session || "" } }, sessionTitle(session)));
    }
    items.push(bubble(message));
  }
  if (!items.length) {
    const empty = state.q ? tf("No message matches “%(query)s”.", { query: state.q }) : t("No messages yet: they appear here as the device talks.");
    items.push(el("li", { class: "muted" }, empty));
  }
  list.replaceChildren(...items);
  if (keepTop) list.scrollTop = list.scrollHeight - fromBottom;
  else if (nearBottom || !render.scrolled) {
    list.scrollTop = list.scrollHeight;
    render.scrolled = true;
  }
}

function merge(batch, { highlight = false, keepTop = false } = {}) {
  const fresh = batch.filter((m) => !messages.has(m.id));
  for (const message of batch) messages.set(message.id, message);
  render({ keepTop });
  if (highlight) {
    for (const message of fresh) list.querySelector(`li[data-id="${message.id}"]`)?.classList.add("flash");
  }
}

function olderState() {
  const current = view();
  const done = current.started && !current.next;
  olderButton.hidden = done;
  olderStatus.textContent = done ? t("No older messages.") : "";
}

// One page older than what is shown: the first from the history (before the oldest message
// shown; the newest matches when searching), the next ones by the page's cursor.
async function loadOlder() {
  const current = view();
  if (current.started && !current.next) return;
  let query = current.next;
  if (!current.started) {
    const params = new URLSearchParams({ page_size: "50" });
    if (state.session) params.set("session", state.session);
    if (state.q) params.set("q", state.q);
    const oldest = shown()[0];
    // +1 ms: `until` is exclusive, and a message at the same millisecond must not be lost.
    if (oldest && !state.q) params.set("until", new Date(Date.parse(oldest.created_at) + 1).toISOString());
    query = params.toString();
  }
  olderButton.disabled = true;
  olderStatus.textContent = t("Loading…");
  try {
    const response = await fetch(`${list.dataset.historyUrl}?${query}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || Object.values(body).flat().join(" ") || response.statusText);
    const batch = [];
    for (const session of body.sessions) {
      const title = session.title || session.first_words;
      if (session.session_id && title) titles.set(session.session_id, title);
      batch.push(...session.messages);
    }
    for (const message of batch) current.matched.add(message.id);
    current.started = true;
    current.next = body.next ? new URL(body.next, location.href).search.slice(1) : null;
    merge(batch, { keepTop: true });
    olderState();
  } catch (error) {
    olderStatus.textContent = tf("Could not load older messages: %(reason)s", { reason: error.message });
  } finally {
    olderButton.disabled = false;
  }
}

function exportLinks() {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  let base = list.dataset.exportUrl;
  let scope;
  if (state.session && state.sessionPk) {
    base = list.dataset.sessionExportUrl.replace(/\/0\/export$/, `/${state.sessionPk}/export`);
    scope = state.q ? t("Export this session's search results:") : t("Export this session:");
  } else {
    if (state.session) params.set("session", state.session);
    scope = state.q ? t("Export the search results:") : t("Export the device's messages:");
  }
  document.getElementById("export-scope").textContent = scope;
  for (const format of ["csv", "jsonl"]) {
    const query = new URLSearchParams(params);
    query.set("format", format);
    document.getElementById(`export-${format}`).href = `${base}?${query}`;
  }
}

// A new filter or search: shown from what is here, and a first page when nothing is.
function refresh() {
  render();
  exportLinks();
  olderState();
  if (!view().started && (state.q || !shown().length)) loadOlder();
}

for (const time of document.querySelectorAll("#session-list time[datetime]")) if (time.dateTime) time.textContent = formatTime(time.dateTime);

for (const button of document.querySelectorAll(".session-filter")) {
  button.addEventListener("click", () => {
    state.session = button.dataset.session;
    state.sessionPk = button.dataset.sessionPk;
    for (const other of document.querySelectorAll(".session-filter")) other.setAttribute("aria-pressed", String(other === button));
    refresh();
  });
}

searchForm.addEventListener("submit", (event) => {
  event.preventDefault();
  state.q = searchForm.elements.q.value.trim();
  clearButton.hidden = !state.q;
  document.getElementById("transcript-heading").textContent = state.q ? tf("Messages with “%(query)s”", { query: state.q }) : t("Live transcript");
  refresh();
});

clearButton.addEventListener("click", () => {
  searchForm.elements.q.value = "";
  searchForm.requestSubmit();
});

olderButton.addEventListener("click", loadOlder);

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
// A search handed over from the devices page (?q=): shown at once.
if (searchForm.elements.q.value.trim()) searchForm.requestSubmit();
