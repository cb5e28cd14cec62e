// Dashboard: every endpoint live (health channel), the sync state and counts (sync channel).
// The health channel and endpoint:* requests are the endpoint family: camelCase keys.

import { countdown, endpointCard, renderSyncSummary } from "../sections.js";
import { el, showProblem, startConsole } from "../ui.js";

const client = startConsole();
const endpointsNode = document.getElementById("endpoints");
const syncNode = document.getElementById("sync-summary");
const endpoints = new Map(); // id -> status dict

function act(type, endpoint, card) {
  const result = card.querySelector(".action-result");
  result.textContent = "…";
  client
    .request(type, { endpointId: endpoint.id })
    .then(() => (result.textContent = type === "endpoint:check" ? "checked" : "reconnecting"))
    .catch((error) => (result.textContent = error.message));
}

function card(endpoint) {
  const node = endpointCard(endpoint, {
    onReconnect: (e) => act("endpoint:reconnect", e, node),
    onCheck: (e) => act("endpoint:check", e, node),
  });
  return node;
}

function renderEndpoints() {
  if (!endpoints.size) {
    showProblem(endpointsNode, "No endpoints configured. Add one in the admin under Endpoints.");
    return;
  }
  endpointsNode.replaceChildren(el("div", { class: "endpoint-grid" }, [...endpoints.values()].map(card)));
}

client.subscribe("health", (frame) => {
  if (frame.type === "health:snapshot") {
    endpoints.clear();
    for (const endpoint of frame.payload.endpoints) endpoints.set(endpoint.id, endpoint);
    renderEndpoints();
  }
  if (frame.type === "endpoint_health") {
    const endpoint = frame.payload.endpoint;
    const old = endpointsNode.querySelector(`[data-endpoint="${CSS.escape(String(endpoint.id))}"]`);
    endpoints.set(endpoint.id, endpoint);
    if (old) old.replaceWith(card(endpoint));
    else renderEndpoints();
  }
});

client.subscribe("sync", (frame) => {
  if (frame.type === "sync:snapshot") renderSyncSummary(syncNode, frame.payload);
  // A finished run changes lag, counts and errors: ask for a fresh snapshot.
  if (frame.type === "sync:done") client.refresh("sync");
});

setInterval(() => {
  for (const node of endpointsNode.querySelectorAll(".countdown[data-at]")) node.textContent = countdown(node.dataset.at);
}, 1000);

client.start();
