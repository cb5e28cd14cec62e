// Renderers for parts shown on more than one page: sync summary, run table, endpoints.

import { t, tf } from "./i18n.js";
import { el, formatDuration, formatTime, sparkline } from "./ui.js";

// The words for the states and statuses the hub sends (endpoint states of
// endpoints/pool/status.py, sync and run statuses of chathistory/models.py), written out
// so that makemessages finds them; an unknown word is shown as sent.
export function stateLabel(value) {
  const labels = {
    connecting: t("connecting"),
    connected: t("connected"),
    degraded: t("degraded"),
    backoff: t("backoff"),
    failed: t("failed"),
    disabled: t("disabled"),
    starting: t("starting"),
    ready: t("ready"),
    restarting: t("restarting"),
    stopped: t("stopped"),
    never: t("never ran"),
    in_progress: t("in progress"),
    success: t("success"),
    skipped: t("skipped"),
    abandoned: t("abandoned"),
    not_configured: t("not configured"),
  };
  return value == null ? null : (labels[value] ?? String(value));
}

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
      stat(t("Status"), stateLabel(s.status), { dataset: { status: s.status || "" } }),
      stat(t("Last success"), formatTime(s.last_success_at)),
      stat(t("Lag"), formatDuration(lag), { class: `stat${lag > 120 ? " warn" : ""}` }),
      stat(t("Devices"), s.devices),
      stat(t("Sessions"), s.sessions),
      stat(t("Messages"), s.messages),
    ),
    s.last_error ? el("p", { class: "error-text" }, t("Last error:"), " ", s.last_error) : el("p", { class: "muted" }, t("No error in the last run.")),
  );
}

// The countdown text for an endpoint waiting to reconnect (refreshed every second).
export function countdown(iso) {
  if (!iso) return "";
  const seconds = Math.ceil((new Date(iso).getTime() - Date.now()) / 1000);
  return seconds > 0 ? tf("reconnect in %(seconds)s s", { seconds }) : t("reconnecting now");
}

function tokenText(endpoint) {
  if (endpoint.tokenExpired) return el("span", { class: "error-text" }, t("token expired"));
  if (!endpoint.tokenExpiresAt) return t("token expiry unknown");
  const days = (new Date(endpoint.tokenExpiresAt).getTime() - Date.now()) / 86400000;
  const text = tf("token expires %(time)s", { time: formatTime(endpoint.tokenExpiresAt) });
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
      el("span", { class: "badge", dataset: { state: endpoint.state } }, endpoint.enabled === false ? t("disabled") : stateLabel(endpoint.state)),
      endpoint.peerProfile === "relay" ? el("span", { class: "badge peer-profile" }, t("self-hosted relay")) : null,
    ),
    el("div", { class: "mono muted url" }, endpoint.url || ""),
    // A relay is connected but idle until a device starts talking: not an error.
    endpoint.waitingForDevice ? el("p", { class: "muted waiting" }, t("connected, waiting for a device to talk")) : null,
    el(
      "div",
      { class: "stats" },
      stat(t("Health"), score == null ? "—" : `${Math.round(score)}`),
      stat(t("RTT"), endpoint.rttMs == null ? "—" : tf("%(ms)s ms", { ms: Math.round(endpoint.rttMs) })),
      stat(t("p95"), endpoint.rttP95Ms == null ? "—" : tf("%(ms)s ms", { ms: Math.round(endpoint.rttP95Ms) })),
      stat(t("Requests"), `${endpoint.successfulRequests ?? 0}/${endpoint.totalRequests ?? 0}`),
    ),
    sparkline(endpoint.rttHistory),
    el("div", { class: "endpoint-foot" }, el("span", { class: "countdown", dataset: { at: endpoint.nextReconnectAt || "" } }, countdown(endpoint.nextReconnectAt)), " ", tokenText(endpoint)),
    endpoint.lastError ? el("p", { class: "error-text" }, endpoint.lastError) : null,
    el(
      "div",
      { class: "actions" },
      el("button", { type: "button", onclick: () => onReconnect(endpoint) }, t("Reconnect")),
      el("button", { type: "button", onclick: () => onCheck(endpoint) }, t("Check health")),
      el("span", { class: "action-result muted", role: "status" }),
    ),
  );
}
