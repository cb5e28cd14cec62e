// Small DOM helpers shared by the console pages, and the connection indicator.

import { WSClient } from "./client.js";

// el("td", {class: "x", dataset: {id: 1}}, "text", child) — text is always escaped.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

export function formatDuration(seconds) {
  if (seconds == null) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

// An inline SVG line of recent values (oldest first).
export function sparkline(values, { width = 120, height = 28 } = {}) {
  const svgNS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "sparkline");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  const points = (values || []).filter((v) => typeof v === "number" && Number.isFinite(v));
  svg.setAttribute("aria-label", points.length ? `RTT ${points.join(", ")} ms` : "no RTT samples yet");
  if (points.length < 2) return svg;
  const max = Math.max(...points, 1);
  const step = width / (points.length - 1);
  const path = document.createElementNS(svgNS, "polyline");
  path.setAttribute("vector-effect", "non-scaling-stroke");
  path.setAttribute("points", points.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`).join(" "));
  svg.append(path);
  return svg;
}

// Shows the connection state; marks the page stale while not live, so old data is never shown silently.
export function mountIndicator(client, node) {
  let info = { state: "idle" };
  let liveSince = null;
  let staleSince = null;
  const render = () => {
    const { state, transport, retryAt, reason } = info;
    const via = transport === "sse" ? "SSE" : "WebSocket";
    let text;
    if (state === "live") text = `Live (${via})`;
    else if (state === "connecting") text = `Connecting (${via})…`;
    else if (state === "reconnecting") {
      const wait = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      text = `Offline — ${reason || "connection lost"}; retrying in ${wait} s`;
    } else if (state === "denied") text = `Not allowed: ${reason}. Log in again.`;
    else text = "Starting…";
    if (staleSince && state !== "live") text += ` · data as of ${staleSince.toLocaleTimeString()}`;
    node.textContent = text;
    node.dataset.state = state;
    node.dataset.transport = transport || "";
    document.body.dataset.console = state;
  };
  client.addEventListener("state", (event) => {
    info = event.detail;
    if (info.state === "live") {
      liveSince = new Date();
      staleSince = null;
    } else if (liveSince && !staleSince) {
      staleSince = new Date();
    }
    render();
  });
  setInterval(() => info.state === "reconnecting" && render(), 1000);
  render();
}

// The page's client, configured by the server (json_script "console-config").
export function startConsole() {
  const config = JSON.parse(document.getElementById("console-config").textContent);
  const client = new WSClient(config);
  mountIndicator(client, document.getElementById("console-status"));
  window.hubConsole = client; // handy from the browser's devtools
  return client;
}

export function showProblem(node, text) {
  node.replaceChildren(el("p", { class: "missing" }, text));
}
