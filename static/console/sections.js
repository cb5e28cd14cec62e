// Renderers for parts shown on more than one page: sync summary, run table, endpoints.

import { el, formatDuration, formatTime, showProblem, sparkline } from "./ui.js";

function stat(label, value, extra = {}) {
  return el("div", { class: "stat", ...extra }, el("span", { class: "stat-label" }, label), el("span", { class: "stat-value" }, value ?? "—"));
}

// payload: a sync:snapshot payload {status, runs, ...} (snake_case, docs/console.md).
export function renderSyncSummary(node, payload) {
  const s = payload.status || {};
  const lag = s.lag_seconds;
  node.replaceChildren(
    el(
      "div",
      { class: "stats" },
      stat("Status", s.status, { dataset: { status: s.status || "" } }),
      stat("Last success", formatTime(s.last_success_at)),
      stat("Lag", formatDuration(lag), { class: `stat${lag > 120 ? " warn" : ""}` }),
      stat("Devices", s.devices),
      stat("Sessions", s.sessions),
      stat("Messages", s.messages),
    ),
    s.last_error ? el("p", { class: "error-text" }, "Last error: ", s.last_error) : el("p", { class: "muted" }, "No error in the last run."),
  );
}

export function renderRuns(node, runs) {
  if (!runs.length) {
    showProblem(node, "No sync has run yet.");
    return;
  }
  const rows = runs.map((run) =>
    el(
      "tr",
      { dataset: { run: run.id ?? "" } },
      el("td", {}, run.id ?? "—"),
      el("td", {}, formatTime(run.started_at)),
      el("td", {}, formatTime(run.finished_at)),
      el("td", { class: `status-${run.status}` }, run.status),
      el("td", { class: "num" }, run.rows_read ?? 0),
      el("td", { class: "num" }, run.rows_written ?? 0),
      el("td", { class: "error-text" }, run.error || ""),
    ),
  );
  node.replaceChildren(
    el(
      "div",
      { class: "table-wrap" },
      el(
        "table",
        { class: "runs" },
        el("thead", {}, el("tr", {}, ...["Run", "Started", "Finished", "Status", "Read", "Written", "Error"].map((h) => el("th", {}, h)))),
        el("tbody", {}, rows),
      ),
    ),
  );
}

// The countdown text for an endpoint waiting to reconnect (refreshed every second).
export function countdown(iso) {
  if (!iso) return "";
  const seconds = Math.ceil((new Date(iso).getTime() - Date.now()) / 1000);
  return seconds > 0 ? `reconnect in ${seconds} s` : "reconnecting now";
}

function tokenText(endpoint) {
  if (endpoint.tokenExpired) return el("span", { class: "error-text" }, "token expired");
  if (!endpoint.tokenExpiresAt) return "token expiry unknown";
  const days = (new Date(endpoint.tokenExpiresAt).getTime() - Date.now()) / 86400000;
  const text = `token expires ${formatTime(endpoint.tokenExpiresAt)}`;
  return days < 7 ? el("span", { class: "warn-text" }, text) : text;
}

export function endpointCard(endpoint, { onReconnect, onCheck }) {
  const score = endpoint.healthScore;
  return el(
    "article",
    { class: `endpoint state-${endpoint.state}`, dataset: { endpoint: endpoint.id } },
    el(
      "header",
      {},
      el("strong", {}, endpoint.name || `#${endpoint.id}`),
      el("span", { class: "badge", dataset: { state: endpoint.state } }, endpoint.enabled === false ? "disabled" : endpoint.state),
    ),
    el("div", { class: "mono muted url" }, endpoint.url || ""),
    el(
      "div",
      { class: "stats" },
      stat("Health", score == null ? "—" : `${Math.round(score)}`),
      stat("RTT", endpoint.rttMs == null ? "—" : `${Math.round(endpoint.rttMs)} ms`),
      stat("p95", endpoint.rttP95Ms == null ? "—" : `${Math.round(endpoint.rttP95Ms)} ms`),
      stat("Requests", `${endpoint.successfulRequests ?? 0}/${endpoint.totalRequests ?? 0}`),
    ),
    sparkline(endpoint.rttHistory),
    el("div", { class: "endpoint-foot" }, el("span", { class: "countdown", dataset: { at: endpoint.nextReconnectAt || "" } }, countdown(endpoint.nextReconnectAt)), " ", tokenText(endpoint)),
    endpoint.lastError ? el("p", { class: "error-text" }, endpoint.lastError) : null,
    el(
      "div",
      { class: "actions" },
      el("button", { type: "button", onclick: () => onReconnect(endpoint) }, "Reconnect"),
      el("button", { type: "button", onclick: () => onCheck(endpoint) }, "Check health"),
      el("span", { class: "action-result muted", role: "status" }),
    ),
  );
}
