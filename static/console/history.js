// Health history on the console: heartbeat bars, uptime figures and RTT charts (SVG drawn
// here: no chart library, no build step). Buckets are those of the REST history and of the
// `health_bucket` event (camelCase, docs/endpoint-pool.md "Health history").

import { t, tf, tn } from "./i18n.js";
import { el, formatClock, formatTime } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const MINUTE = 60000;
export const STATES = ["up", "down", "partial", "none"];

function svgNode(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

function stateOf(bucket) {
  const up = bucket.upSeconds > 0;
  const bad = bucket.downSeconds > 0 || bucket.pingsFailed > 0;
  if (up && bad) return "partial";
  if (bad) return "down";
  return up ? "up" : "none";
}

// Adds `bucket` into `list` (ordered by start): the same minute from two workers (an
// endpoint that moved between them) is added up, as the server does for REST.
export function mergeBucket(list, bucket) {
  const at = Date.parse(bucket.start);
  const index = list.findIndex((b) => Date.parse(b.start) === at);
  if (index < 0) {
    list.push({ ...bucket });
    list.sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
    return list;
  }
  const old = list[index];
  const sum = (key) => (old[key] || 0) + (bucket[key] || 0);
  const merged = { ...old };
  for (const key of ["upSeconds", "downSeconds", "pingsOk", "pingsFailed", "disconnections", "outages"]) merged[key] = sum(key);
  const total = merged.upSeconds + merged.downSeconds;
  merged.uptimePercent = total ? Math.round((100000 * merged.upSeconds) / total) / 1000 : null;
  const counted = (old.pingsOk || 0) + (bucket.pingsOk || 0);
  if (counted && old.rttAvgMs != null && bucket.rttAvgMs != null) {
    merged.rttAvgMs = (old.rttAvgMs * old.pingsOk + bucket.rttAvgMs * bucket.pingsOk) / counted;
  } else merged.rttAvgMs = old.rttAvgMs ?? bucket.rttAvgMs;
  merged.rttP95Ms = Math.max(old.rttP95Ms ?? 0, bucket.rttP95Ms ?? 0) || null;
  merged.rttMaxMs = Math.max(old.rttMaxMs ?? 0, bucket.rttMaxMs ?? 0) || null;
  merged.state = stateOf(merged);
  list[index] = merged;
  return list;
}

// Keeps the buckets of the last `count` minutes.
export function trimBuckets(list, count, now = Date.now()) {
  const oldest = Math.floor(now / MINUTE) * MINUTE - count * MINUTE;
  return list.filter((b) => Date.parse(b.start) >= oldest);
}

function pct(value) {
  return value == null ? "—" : `${value >= 99.995 || value === 0 ? value.toFixed(0) : value.toFixed(2)} %`;
}

// A bucket's state in words (STATES).
function stateWord(state) {
  return { up: t("up"), down: t("down"), partial: t("partial"), none: t("no data") }[state] ?? state;
}

function tooltip(bucket, start) {
  const time = formatClock(start, { seconds: false });
  if (!bucket) return tf("%(time)s: no data", { time });
  const parts = [`${time}: ${stateWord(bucket.state)}`, tf("uptime %(percent)s", { percent: pct(bucket.uptimePercent) })];
  if (bucket.pingsOk != null) parts.push(tf("pings %(ok)s ok / %(failed)s failed", { ok: bucket.pingsOk, failed: bucket.pingsFailed }));
  if (bucket.rttAvgMs != null) parts.push(tf("RTT avg %(avg)s ms, p95 %(p95)s ms", { avg: Math.round(bucket.rttAvgMs), p95: Math.round(bucket.rttP95Ms) }));
  if (bucket.disconnections) parts.push(tn("%(count)s disconnection", "%(count)s disconnections", bucket.disconnections, { count: bucket.disconnections }));
  if (bucket.outages) parts.push(tn("%(count)s outage", "%(count)s outages", bucket.outages, { count: bucket.outages }));
  return parts.join(" · ");
}

// The last `count` finished minutes, oldest first, each coloured by its bucket's state
// (no bucket: "none"). A tooltip (title) says what the minute held.
export function heartbeatBar(buckets, { count = 60, now = Date.now(), label = t("Last hour") } = {}) {
  const byStart = new Map(buckets.map((b) => [Date.parse(b.start), b]));
  const current = Math.floor(now / MINUTE) * MINUTE;
  const beats = [];
  for (let i = count; i >= 1; i--) {
    const start = current - i * MINUTE;
    const bucket = byStart.get(start);
    beats.push(el("span", { class: "beat", title: tooltip(bucket, start), dataset: { state: bucket ? bucket.state : "none" } }));
  }
  const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const beat of beats) counts[beat.dataset.state] += 1;
  const summary = tf("%(label)s: %(up)s up, %(partial)s partial, %(down)s down, %(none)s without data", { label, ...counts });
  return el("div", { class: "heartbeat", role: "img", "aria-label": summary, title: summary }, beats);
}

export function uptimeLine(uptime = {}) {
  const cell = (label, value) =>
    el("span", { class: "uptime-item" }, el("span", { class: "stat-label" }, label), " ", el("strong", {}, pct(value)));
  return el("div", { class: "uptime" }, cell(t("24 h"), uptime["24h"]), cell(t("7 d"), uptime["7d"]), cell(t("30 d"), uptime["30d"]));
}

// Average RTT (line) and p95 (dashed line) per bucket over [from, to]; buckets without
// RTT leave a gap. Axis labels: the largest value and the range's ends.
export function rttChart(buckets, { from, to, width = 300, height = 70 } = {}) {
  const svg = svgNode("svg", { viewBox: `0 0 ${width} ${height}`, class: "rtt-chart", preserveAspectRatio: "none", role: "img" });
  const points = buckets.filter((b) => b.rttAvgMs != null);
  const start = Date.parse(from);
  const end = Date.parse(to);
  if (!points.length || !(end > start)) {
    svg.setAttribute("aria-label", t("no RTT samples in this range"));
    svg.append(svgNode("text", { x: 4, y: height / 2, class: "rtt-empty" }));
    svg.lastChild.textContent = t("no RTT samples in this range");
    return svg;
  }
  const top = Math.max(...points.map((b) => b.rttP95Ms ?? b.rttAvgMs), 1);
  const x = (b) => (((Date.parse(b.start) - start) / (end - start)) * width).toFixed(1);
  const y = (v) => (height - 2 - (v / top) * (height - 14)).toFixed(1);
  // A gap of more than 2 buckets' width breaks the line.
  const step = buckets.length > 1 ? Math.min(...buckets.slice(1).map((b, i) => Date.parse(b.start) - Date.parse(buckets[i].start))) : MINUTE;
  for (const [key, cls] of [["rttP95Ms", "rtt-p95"], ["rttAvgMs", "rtt-avg"]]) {
    let run = [];
    const flush = () => {
      if (run.length === 1) svg.append(svgNode("circle", { cx: run[0][0], cy: run[0][1], r: 1.5, class: cls }));
      else if (run.length > 1) svg.append(svgNode("polyline", { points: run.map((p) => p.join(",")).join(" "), class: cls, "vector-effect": "non-scaling-stroke" }));
      run = [];
    };
    let last = null;
    for (const b of points) {
      if (b[key] == null) continue;
      if (last != null && Date.parse(b.start) - last > 2 * step) flush();
      run.push([x(b), y(b[key])]);
      last = Date.parse(b.start);
    }
    flush();
  }
  const label = svgNode("text", { x: 2, y: 10, class: "rtt-axis" });
  label.textContent = tf("%(ms)s ms", { ms: Math.round(top) });
  svg.append(label);
  const avg = points.reduce((sum, b) => sum + b.rttAvgMs, 0) / points.length;
  svg.setAttribute(
    "aria-label",
    tf("RTT from %(from)s to %(to)s: average %(avg)s ms, highest p95 %(p95)s ms", { from: formatTime(start), to: formatTime(end), avg: Math.round(avg), p95: Math.round(top) }),
  );
  return svg;
}
