// Sync page: state, recent runs (quiet runs folded), and "Sync now" with a progress bar
// while that run goes.
//
// "Sync now" is one request, and its run reports on the `sync` channel: the answer
// and the run's frames arrive in any order (in one-process mode the run is over before
// the answer). So the page keeps the run's phase and only ever moves it forward:
// starting → queued → running → done; the answer only moves "starting" to "queued".
// The run is the first one newer than every run the page knew of at the click.

import { t, tf, tn } from "../i18n.js";
import { renderSyncSummary, stateLabel } from "../sections.js";
import { el, formatDuration, formatTime, showProblem, startConsole } from "../ui.js";

const client = startConsole();
const summary = document.getElementById("sync-summary");
const runsNode = document.getElementById("sync-runs");
const form = document.getElementById("sync-form");
const progress = document.getElementById("sync-progress");
const bar = document.getElementById("sync-bar");
const runText = document.getElementById("sync-progress-text");
const sourcesNode = document.getElementById("sync-sources");
const sourceSelect = document.getElementById("sync-source");

const PHASES = ["starting", "queued", "running", "done"];
const rank = (phase) => PHASES.indexOf(phase);
let newestRun = 0; // the newest run id the page has seen
let mine = null; // {attempt, after, bound, runId, phase, ...}: what "Sync now" started
let attempts = 0;
const others = new Map(); // run id -> {rows_read, rows_written}: runs going, not started here

function formatMs(ms) {
  if (ms == null) return "—";
  if (ms < 1000) return tf("%(ms)s ms", { ms: Math.round(ms) });
  if (ms < 60000) return tf("%(s)s s", { s: (ms / 1000).toFixed(1) });
  return formatDuration(ms / 1000);
}

function seen(runId) {
  if (typeof runId === "number" && runId > newestRun) newestRun = runId;
}

// Is this run the one "Sync now" started (binding the first newer run to it)?
function isMine(runId) {
  if (!mine) return false;
  if (mine.bound) return runId === mine.runId;
  if (runId == null || runId > mine.after) {
    Object.assign(mine, { bound: true, runId });
    return true;
  }
  return false;
}

function advance(phase, fields = {}) {
  if (!mine || rank(phase) < rank(mine.phase)) return;
  Object.assign(mine, fields, { phase });
  render();
}

function mineText() {
  const m = mine;
  if (m.phase === "starting") return t("Starting…");
  if (m.phase === "queued") return t("Queued; waiting for the worker…");
  if (m.phase === "running")
    return tf("Run %(id)s: %(read)s rows read, %(written)s written", { id: m.runId ?? "—", read: m.rows_read ?? 0, written: m.rows_written ?? 0 });
  if (m.phase === "refused") return tf("Not started: %(reason)s", { reason: m.reason || t("the hub refused") });
  if (m.phase === "error") return tf("Could not start: %(reason)s", { reason: m.reason });
  const text = tf("Run %(id)s %(status)s: %(read)s read, %(written)s written in %(duration)s", {
    id: m.runId ?? "—",
    status: stateLabel(m.status),
    read: m.rows_read ?? 0,
    written: m.rows_written ?? 0,
    duration: formatMs(m.duration_ms),
  });
  return m.error ? `${text} — ${m.error}` : text;
}

function render() {
  const going = mine && rank(mine.phase) >= 0 && mine.phase !== "done";
  let text = "";
  let phase = "idle";
  if (mine) {
    text = mineText();
    phase = mine.phase === "done" && mine.status === "failed" ? "failed" : mine.phase;
  }
  if (!going && others.size) {
    const [id, p] = [...others].at(-1);
    text = tf("Run %(id)s: %(read)s rows read, %(written)s written", { id, read: p.rows_read ?? 0, written: p.rows_written ?? 0 });
    phase = "other";
  }
  // The bar only while a run is going; the source does not say how many rows are
  // left, so it is indeterminate and the text counts the batches' rows.
  progress.hidden = !(going || others.size);
  bar.removeAttribute("value");
  runText.textContent = text;
  runText.dataset.phase = phase;
  runText.dataset.run = mine?.runId ?? "";
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const data = new FormData(form);
  const payload = { full: data.get("full") === "on" };
  const device = String(data.get("device") || "").trim();
  if (device) payload.device = device;
  const source = String(data.get("source") || "");
  if (source) payload.source = source;
  const button = form.querySelector("button");
  button.disabled = true;
  const attempt = ++attempts;
  mine = { attempt, after: newestRun, runId: null, phase: "starting" };
  render();
  client
    .request("sync:start", payload)
    .then((result) => {
      if (mine?.attempt !== attempt) return;
      if (result.queued === false) {
        // The hub started nothing: whatever ran meanwhile was not this request's.
        Object.assign(mine, { phase: "refused", reason: result.reason, runId: null });
        render();
      } else {
        advance("queued");
      }
    })
    .catch((error) => {
      // A lost answer does not undo a run the page already sees going.
      if (mine?.attempt !== attempt || mine.phase !== "starting") return;
      mine.phase = "error";
      mine.reason = error.message;
      render();
    })
    .finally(() => (button.disabled = false));
});

// --- recent runs --------------------------------------------------------------------

// The columns; on a phone each cell shows its column's name (data-label, sync.css).
function headings() {
  return [t("Run"), t("Started"), t("Duration"), t("Status"), t("Read"), t("Written"), t("Source"), t("Error")];
}

function runRow(run) {
  const [id, started, duration, status, read, written, source, error] = headings();
  return el(
    "tr",
    { dataset: { run: run.id ?? "", source: run.source ?? "" } },
    el("td", { dataset: { label: id } }, run.id ?? "—"),
    el("td", { dataset: { label: started } }, formatTime(run.started_at)),
    el("td", { class: "num duration", dataset: { label: duration } }, run.status === "in_progress" ? "…" : formatMs(run.duration_ms)),
    el("td", { class: `status-${run.status}`, dataset: { label: status } }, stateLabel(run.status)),
    el("td", { class: "num", dataset: { label: read } }, run.rows_read ?? 0),
    el("td", { class: "num", dataset: { label: written } }, run.rows_written ?? 0),
    el("td", { class: "mono", dataset: { label: source } }, run.source ?? "—"),
    el("td", { class: "error-text" }, run.error || ""),
  );
}

// A streak of runs that found nothing new: one line, opened on demand.
function foldedRow(run) {
  const f = run.folded;
  const values = { count: f.count, from: formatTime(f.first_started_at), to: formatTime(run.finished_at || run.started_at) };
  const line = f.more
    ? tn("More than %(count)s run with no new rows, from %(from)s to %(to)s", "More than %(count)s runs with no new rows, from %(from)s to %(to)s", f.count, values)
    : tn("%(count)s run with no new rows, from %(from)s to %(to)s", "%(count)s runs with no new rows, from %(from)s to %(to)s", f.count, values);
  const listed = f.runs.map((r) =>
    el("li", { dataset: { run: r.id } }, tf("Run %(id)s · %(time)s · %(duration)s · %(status)s", { id: r.id, time: formatTime(r.started_at), duration: formatMs(r.duration_ms), status: stateLabel(r.status) })),
  );
  const rest = f.count - f.runs.length;
  if (rest > 0) listed.push(el("li", { class: "muted" }, tn("and %(count)s more", "and %(count)s more", rest, { count: rest })));
  return el(
    "tr",
    { class: "folded", dataset: { run: run.id, folded: f.count } },
    el("td", { colspan: 8 }, el("details", {}, el("summary", {}, line), el("ul", { class: "folded-runs" }, listed))),
  );
}

function renderRuns(runs) {
  if (!runs.length) {
    showProblem(runsNode, t("No sync has run yet."));
    return;
  }
  // Keep a streak open across refreshes.
  const open = new Set([...runsNode.querySelectorAll("tr.folded details[open]")].map((d) => d.closest("tr").dataset.run));
  const rows = runs.map((run) => {
    if (!run.folded) return runRow(run);
    const row = foldedRow(run);
    if (open.has(String(run.id))) row.querySelector("details").open = true;
    return row;
  });
  runsNode.replaceChildren(
    el("div", { class: "table-wrap" }, el("table", { class: "runs" }, el("thead", {}, el("tr", {}, headings().map((h) => el("th", {}, h)))), el("tbody", {}, rows))),
  );
}

// --- one card per source ------------------------------------------------------------

function sourceCard(source) {
  const value = (label, text, extra = {}) =>
    el("div", { class: "stat", ...extra }, el("span", { class: "stat-label" }, label), el("span", { class: "stat-value" }, text ?? "—"));
  const state = !source.enabled ? t("disabled") : !source.configured ? t("not configured") : stateLabel(source.status);
  return el(
    "article",
    { class: `source-card status-${source.status}`, dataset: { source: source.source } },
    el("h3", {}, source.name && source.name !== source.source ? `${source.name} ` : "", el("span", { class: "mono muted" }, source.source), " ", el("span", { class: "muted" }, source.kind || "")),
    el(
      "div",
      { class: "stats" },
      value(t("Status"), state, { dataset: { status: source.status || "" } }),
      value(t("Cursor"), String(source.cursor ?? 0)),
      value(t("Last run"), formatTime(source.last_run_at)),
      value(t("Last success"), formatTime(source.last_success_at)),
    ),
    source.last_error ? el("p", { class: "error-text" }, t("Last error:"), " ", source.last_error) : el("p", { class: "muted" }, t("No error in the last run.")),
  );
}

function renderSources(sources) {
  if (!sources.length) {
    showProblem(sourcesNode, t("No source yet: set ESP32_DATABASE_URL or add one in the admin."));
  } else {
    sourcesNode.replaceChildren(...sources.map(sourceCard));
  }
  const chosen = sourceSelect.value;
  const options = sources.filter((s) => s.enabled).map((s) => el("option", { value: s.source }, s.name && s.name !== s.source ? `${s.name} (${s.source})` : s.source));
  sourceSelect.replaceChildren(el("option", { value: "" }, t("All sources")), ...options);
  sourceSelect.value = sources.some((s) => s.source === chosen) ? chosen : "";
}

// --- the sync channel ---------------------------------------------------------------

function onSnapshot(p) {
  renderSyncSummary(summary, p);
  renderSources(p.status?.sources || []);
  renderRuns(p.runs || []);
  const byId = new Map(); // every run listed, folded ones too (a streak's newest is both)
  for (const entry of p.runs || []) {
    for (const run of entry.folded?.runs || []) byId.set(run.id, run);
    byId.set(entry.id, entry);
  }
  const runs = [...byId.values()].sort((a, b) => a.id - b.id); // oldest first
  for (const run of runs) seen(run.id);
  // Frames missed while the page was away: the snapshot tells where runs stand.
  others.clear();
  for (const run of runs) {
    if (isMine(run.id)) {
      if (run.status === "in_progress") advance("running", { rows_read: run.rows_read, rows_written: run.rows_written });
      else advance("done", { status: run.status, rows_read: run.rows_read, rows_written: run.rows_written, error: run.error, duration_ms: run.duration_ms });
    } else if (run.status === "in_progress") {
      others.set(run.id, run);
    }
  }
  render();
}

client.subscribe("sync", (frame) => {
  const p = frame.payload;
  if (frame.type === "sync:snapshot") {
    onSnapshot(p);
  } else if (frame.type === "sync:progress") {
    seen(p.run_id);
    if (isMine(p.run_id)) advance("running", { rows_read: p.rows_read, rows_written: p.rows_written });
    else {
      others.set(p.run_id, p);
      render();
    }
  } else if (frame.type === "sync:done") {
    seen(p.run_id);
    others.delete(p.run_id);
    // "abandoned" closes a dead run that a new one took over: it is never this page's.
    if (p.status !== "abandoned" && isMine(p.run_id)) advance("done", p);
    else render();
    client.refresh("sync");
  }
});

client.start();
