// The dashboard's alerts panel: the `alerts` channel (snake_case keys, docs/console.md):
// an alerts:snapshot, then alert_firing / alert_resolved / alert_updated deltas.
// Operators (data-can-act on the panel) acknowledge or silence an alert from here.
//
// It shares the page's one connection (dashboard.js's client, window.hubConsole,
// loaded first); on a page without one it starts its own.

import { t, tf } from "../i18n.js";
import { el, formatTime, showProblem, startConsole } from "../ui.js";

const panel = document.getElementById("alerts-panel");
const list = document.getElementById("alerts");
const canAct = panel?.dataset.canAct === "true";
const alerts = new Map(); // id -> alert payload
// The engine writes each alert's message in English and Chinese (xiaozhi_hub/alerts/texts.py).
const chinese = document.documentElement.lang.toLowerCase().startsWith("zh");

function severityLabel(severity) {
  return { critical: t("critical"), warning: t("warning"), info: t("info") }[severity] ?? severity;
}

function stateText(alert) {
  if (alert.state === "firing") return alert.acknowledged_by ? tf("firing (acknowledged by %(user)s)", { user: alert.acknowledged_by }) : t("firing");
  return alert.closed_at ? t("resolved") : t("resolved (within flap window)");
}

function act(client, type, payload, node) {
  const result = node.querySelector(".action-result");
  result.textContent = "…";
  client
    .request(type, payload)
    .then(() => (result.textContent = t("done")))
    .catch((error) => (result.textContent = error.message));
}

function row(client, alert) {
  const buttons = [];
  if (canAct && alert.state === "firing") {
    if (!alert.acknowledged_at) {
      buttons.push(el("button", { type: "button", class: "button", onclick: () => act(client, "alert:acknowledge", { alert_id: alert.id }, node) }, t("Acknowledge")));
    }
    buttons.push(el("button", { type: "button", class: "button", onclick: () => act(client, "alert:silence", { alert_id: alert.id, minutes: 60 }, node) }, t("Silence 1 h")));
    buttons.push(el("button", { type: "button", class: "button", onclick: () => act(client, "alert:silence", { alert_id: alert.id, minutes: 1440 }, node) }, t("Silence 24 h")));
  }
  const node = el(
    "tr",
    { class: `alert alert-${alert.state} severity-${alert.severity}`, dataset: { alert: alert.id, state: alert.state } },
    el("td", { class: alert.state === "firing" ? "status-failed" : "status-success" }, stateText(alert)),
    el("td", {}, severityLabel(alert.severity)),
    el("td", {}, el("strong", {}, alert.rule_name), el("br"), chinese && alert.message_zh ? alert.message_zh : alert.message),
    el("td", {}, formatTime(alert.started_at)),
    el("td", {}, alert.resolved_at ? formatTime(alert.resolved_at) : "—"),
    el("td", {}, alert.silenced ? tf("until %(time)s", { time: formatTime(alert.silenced_until) }) : "—"),
    el("td", {}, el("div", { class: "actions" }, ...buttons, el("span", { class: "action-result muted", role: "status" }))),
  );
  return node;
}

function render(client) {
  if (!alerts.size) {
    list.replaceChildren(el("p", { class: "muted no-alerts" }, t("No alerts firing or resolved in the last 24 hours.")));
    return;
  }
  // Firing first, then the newest.
  const sorted = [...alerts.values()].sort(
    (a, b) => (a.state === "firing" ? 0 : 1) - (b.state === "firing" ? 0 : 1) || String(b.fired_at).localeCompare(String(a.fired_at)),
  );
  const head = [t("State"), t("Severity"), t("Alert"), t("Since"), t("Resolved"), t("Silenced"), ""].map((h) => el("th", {}, h));
  list.replaceChildren(
    el("div", { class: "table-wrap" }, el("table", { class: "runs alerts-table" }, el("thead", {}, el("tr", {}, head)), el("tbody", {}, sorted.map((a) => row(client, a))))),
  );
}

if (panel && list) {
  const shared = window.hubConsole;
  const client = shared || startConsole();
  client.subscribe("alerts", (frame) => {
    if (frame.type === "alerts:snapshot") {
      alerts.clear();
      for (const alert of frame.payload.alerts) alerts.set(alert.id, alert);
    } else if (["alert_firing", "alert_resolved", "alert_updated"].includes(frame.type)) {
      const alert = frame.payload.alert;
      alerts.set(alert.id, alert);
    } else if (frame.type === "error") {
      showProblem(list, tf("Alerts unavailable: %(reason)s", { reason: frame.payload.reason }));
      return;
    } else {
      return;
    }
    render(client);
  });
  if (!shared) client.start();
}
