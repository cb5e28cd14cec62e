// Small DOM helpers shared by the console pages, and the connection indicator.

import { WSClient } from "./client.js";
import { t, tf } from "./i18n.js";

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

// The hub's TIME_ZONE and the page's language, as admin/base_site.html renders them
// (<meta name="hub-time-zone">, <html lang>); the browser's own when absent.
function pageLocale() {
  const zone = document.querySelector('meta[name="hub-time-zone"]')?.content || undefined;
  const language = document.documentElement.lang || undefined;
  return { zone, language };
}

let timeFormat = null;

function timeFormatter() {
  if (timeFormat) return timeFormat;
  const { zone, language } = pageLocale();
  const options = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" };
  try {
    timeFormat = new Intl.DateTimeFormat(language, { ...options, timeZone: zone });
  } catch {
    timeFormat = new Intl.DateTimeFormat(undefined, options); // an unknown zone or language
  }
  return timeFormat;
}

// A time (ISO string, epoch milliseconds or Date) as "2026-11-29 15:09:35" in the hub's
// TIME_ZONE: the same order in every language, seconds without fractions.
export function formatTime(value, { seconds = true } = {}) {
  if (value == null || value === "") return "—";
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const parts = Object.fromEntries(timeFormatter().formatToParts(date).map((part) => [part.type, part.value]));
  const clock = seconds ? `${parts.hour}:${parts.minute}:${parts.second}` : `${parts.hour}:${parts.minute}`;
  return `${parts.year}-${parts.month}-${parts.day} ${clock}`;
}

// Only the clock ("15:09" or "15:09:35") of a time, in the hub's TIME_ZONE.
export function formatClock(value, { seconds = true } = {}) {
  const text = formatTime(value, { seconds });
  return text.includes(" ") ? text.slice(text.indexOf(" ") + 1) : text;
}

export function formatDuration(seconds) {
  if (seconds == null) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return tf("%(s)s s", { s });
  if (s < 3600) return tf("%(m)s min %(s)s s", { m: Math.floor(s / 60), s: s % 60 });
  return tf("%(h)s h %(m)s min", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
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
  svg.setAttribute("aria-label", points.length ? tf("RTT %(values)s ms", { values: points.join(", ") }) : t("no RTT samples yet"));
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
    if (state === "live") text = tf("Live (%(via)s)", { via });
    else if (state === "connecting") text = tf("Connecting (%(via)s)…", { via });
    else if (state === "reconnecting") {
      const wait = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      text = tf("Offline — %(reason)s; retrying in %(wait)s s", { reason: reason || t("connection lost"), wait });
    } else if (state === "denied") text = tf("Not allowed: %(reason)s. Log in again.", { reason });
    else text = t("Starting…");
    if (staleSince && state !== "live") text += ` · ${tf("data as of %(time)s", { time: formatClock(staleSince) })}`;
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
