// Dashboard: every endpoint live (health channel), its heartbeat bar, uptime and RTT chart,
// the upstream MCP servers, the sync state and counts (sync channel).
// The health channel and endpoint:* requests are the endpoint family: camelCase keys.

import { heartbeatBar, mergeBucket, rttChart, trimBuckets, uptimeLine } from "../history.js";
import { t, tf } from "../i18n.js";
import { countdown, endpointCard, renderSyncSummary, stateLabel } from "../sections.js";
import { el, formatTime, showProblem, startConsole } from "../ui.js";

const client = startConsole();
const endpointsNode = document.getElementById("endpoints");
const serversNode = document.getElementById("servers");
const syncNode = document.getElementById("sync-summary");
const endpoints = new Map(); // id -> status dict
const servers = new Map(); // id -> server state dict
// History per endpoint and server: {uptime, buckets (minute, the heartbeat window)}.
const history = { endpoints: new Map(), servers: new Map() };
let heartbeatCount = 60;
// The RTT chart's range per endpoint ("live": the heartbeat window) and fetched ranges.
const chartRange = new Map();
const fetched = new Map(); // `${id}:${range}` -> REST history body
const RANGES = [
  ["live", t("Last hour (live)")],
  ["24h", t("24 h")],
  ["7d", t("7 days")],
  ["30d", t("30 days")],
];

function act(type, endpoint, card) {
  const result = card.querySelector(".action-result");
  result.textContent = "…";
  client
    .request(type, { endpointId: endpoint.id })
    .then(() => (result.textContent = type === "endpoint:check" ? t("checked") : t("reconnecting")))
    .catch((error) => (result.textContent = error.message));
}

function historyOf(kind, id) {
  let entry = history[kind].get(id);
  if (!entry) {
    entry = { uptime: {}, buckets: [] };
    history[kind].set(id, entry);
  }
  return entry;
}

function chartFor(endpoint) {
  const range = chartRange.get(endpoint.id) || "live";
  if (range === "live") {
    const now = Date.now();
    const to = new Date(Math.floor(now / 60000) * 60000).toISOString();
    const from = new Date(Date.parse(to) - heartbeatCount * 60000).toISOString();
    return rttChart(historyOf("endpoints", endpoint.id).buckets, { from, to });
  }
  const body = fetched.get(`${endpoint.id}:${range}`);
  if (!body) return el("p", { class: "muted rtt-loading" }, t("Loading…"));
  if (body.error) return el("p", { class: "error-text" }, body.error);
  return rttChart(body.buckets, { from: body.from, to: body.to });
}

async function loadRange(endpoint, range) {
  const key = `${endpoint.id}:${range}`;
  try {
    const response = await fetch(`/api/endpoints/${encodeURIComponent(endpoint.id)}/history?range=${range}`, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    const body = await response.json();
    fetched.set(key, response.ok ? body : { error: body.detail || body.range?.[0] || `HTTP ${response.status}` });
  } catch (error) {
    fetched.set(key, { error: tf("could not load the history: %(reason)s", { reason: error.message }) });
  }
  redrawHistory(endpoint.id);
}

function historyBlock(endpoint) {
  const entry = historyOf("endpoints", endpoint.id);
  const range = chartRange.get(endpoint.id) || "live";
  const select = el(
    "select",
    {
      class: "rtt-range",
      "aria-label": tf("RTT chart range of %(name)s", { name: endpoint.name || endpoint.id }),
      onchange: (event) => {
        const chosen = event.target.value;
        chartRange.set(endpoint.id, chosen);
        if (chosen !== "live") {
          fetched.delete(`${endpoint.id}:${chosen}`);
          loadRange(endpoint, chosen);
        }
        redrawHistory(endpoint.id);
      },
    },
    RANGES.map(([value, label]) => el("option", { value, selected: value === range }, label)),
  );
  return el(
    "div",
    { class: "history" },
    uptimeLine(entry.uptime),
    heartbeatBar(entry.buckets, { count: heartbeatCount }),
    el("div", { class: "rtt-head" }, el("span", { class: "stat-label" }, t("RTT (avg, p95 dashed)")), select),
    el("div", { class: "rtt-slot" }, chartFor(endpoint)),
  );
}

function redrawHistory(id) {
  const card = endpointsNode.querySelector(`[data-endpoint="${CSS.escape(String(id))}"]`);
  const endpoint = endpoints.get(id);
  if (!card || !endpoint) return;
  card.querySelector(".history")?.replaceWith(historyBlock(endpoint));
}

function card(endpoint) {
  const node = endpointCard(endpoint, {
    onReconnect: (e) => act("endpoint:reconnect", e, node),
    onCheck: (e) => act("endpoint:check", e, node),
  });
  node.insertBefore(historyBlock(endpoint), node.querySelector(".actions"));
  return node;
}

function renderEndpoints() {
  if (!endpoints.size) {
    showProblem(endpointsNode, t("No endpoints configured. Add one in the admin under Endpoints."));
    return;
  }
  endpointsNode.replaceChildren(el("div", { class: "endpoint-grid" }, [...endpoints.values()].map(card)));
}

function serverCard(server) {
  const entry = historyOf("servers", server.id);
  const state = server.enabled === false ? "stopped" : server.state;
  return el(
    "article",
    { class: "endpoint server", dataset: { server: server.id } },
    el("header", {}, el("strong", {}, server.name), el("span", { class: "badge", dataset: { state } }, stateLabel(state))),
    el("div", { class: "mono muted url" }, `${server.transport}: ${server.target || ""}`),
    el(
      "div",
      { class: "stats" },
      el("div", { class: "stat" }, el("span", { class: "stat-label" }, t("Tools")), el("span", { class: "stat-value" }, `${server.toolsEnabled ?? 0}/${server.toolCount ?? 0}`)),
      el("div", { class: "stat" }, el("span", { class: "stat-label" }, t("Status at")), el("span", { class: "stat-value small" }, formatTime(server.statusUpdatedAt))),
    ),
    el("div", { class: "history" }, uptimeLine(entry.uptime), heartbeatBar(entry.buckets, { count: heartbeatCount })),
    server.lastError ? el("p", { class: "error-text" }, server.lastError) : null,
  );
}

function renderServers() {
  if (!servers.size) {
    showProblem(serversNode, t("No upstream MCP servers configured. Add one in the admin under MCP servers."));
    return;
  }
  serversNode.replaceChildren(el("div", { class: "endpoint-grid" }, [...servers.values()].map(serverCard)));
}

function takeHistory(snapshot) {
  history.endpoints.clear();
  history.servers.clear();
  heartbeatCount = snapshot?.heartbeatBuckets || heartbeatCount;
  for (const kind of ["endpoints", "servers"]) {
    for (const item of snapshot?.[kind] || []) history[kind].set(item.id, { uptime: item.uptime || {}, buckets: item.buckets || [] });
  }
}

// A worker's closed minute: into the bars (and the live chart) of its endpoints and servers.
function addBuckets(payload) {
  for (const item of payload.endpoints || []) {
    const entry = historyOf("endpoints", item.endpointId);
    entry.buckets = trimBuckets(mergeBucket(entry.buckets, item), heartbeatCount);
    redrawHistory(item.endpointId);
  }
  for (const item of payload.servers || []) {
    const entry = historyOf("servers", item.serverId);
    entry.buckets = trimBuckets(mergeBucket(entry.buckets, item), heartbeatCount);
  }
  if ((payload.servers || []).length) renderServers();
}

client.subscribe("health", (frame) => {
  if (frame.type === "health:snapshot") {
    endpoints.clear();
    servers.clear();
    takeHistory(frame.payload.history);
    for (const endpoint of frame.payload.endpoints) endpoints.set(endpoint.id, endpoint);
    for (const server of frame.payload.servers || []) servers.set(server.id, server);
    renderEndpoints();
    renderServers();
  }
  if (frame.type === "endpoint_health") {
    const endpoint = frame.payload.endpoint;
    const old = endpointsNode.querySelector(`[data-endpoint="${CSS.escape(String(endpoint.id))}"]`);
    endpoints.set(endpoint.id, endpoint);
    if (old) old.replaceWith(card(endpoint));
    else renderEndpoints();
  }
  if (frame.type === "health_bucket") addBuckets(frame.payload);
});

client.subscribe("sync", (frame) => {
  if (frame.type === "sync:snapshot") renderSyncSummary(syncNode, frame.payload);
  // A finished run changes lag, counts and errors: ask for a fresh snapshot.
  if (frame.type === "sync:done") client.refresh("sync");
});

setInterval(() => {
  for (const node of endpointsNode.querySelectorAll(".countdown[data-at]")) node.textContent = countdown(node.dataset.at);
}, 1000);

window.hubDashboard = { history }; // for the browser test and devtools
client.start();
