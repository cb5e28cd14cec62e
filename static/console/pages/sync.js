// Sync page: state, recent runs, and "Sync now" with a progress bar while that run goes.

import { renderRuns, renderSyncSummary } from "../sections.js";
import { startConsole } from "../ui.js";

const client = startConsole();
const summary = document.getElementById("sync-summary");
const runsNode = document.getElementById("sync-runs");
const form = document.getElementById("sync-form");
const progress = document.getElementById("sync-progress");
const bar = document.getElementById("sync-bar");
const progressText = document.getElementById("sync-progress-text");
let watching = false; // a sync started from this page is running

function showProgress(text, value) {
  progress.hidden = false;
  progressText.textContent = text;
  if (value == null) bar.removeAttribute("value"); // indeterminate until the run reports
  else bar.value = value;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const data = new FormData(form);
  const payload = { full: data.get("full") === "on" };
  const device = String(data.get("device") || "").trim();
  if (device) payload.device = device;
  const button = form.querySelector("button");
  button.disabled = true;
  watching = true;
  showProgress("Starting…", null);
  client
    .request("sync:start", payload)
    .then((result) => {
      if (result.queued === false) {
        watching = false;
        showProgress(`Not started: ${result.reason || "the hub refused"}`, 0);
      } else {
        showProgress("Queued; waiting for the worker…", null);
      }
    })
    .catch((error) => {
      watching = false;
      showProgress(`Could not start: ${error.message}`, 0);
    })
    .finally(() => (button.disabled = false));
});

client.subscribe("sync", (frame) => {
  const p = frame.payload;
  if (frame.type === "sync:snapshot") {
    renderSyncSummary(summary, p);
    renderRuns(runsNode, p.runs);
  } else if (frame.type === "sync:progress" && watching) {
    // The source does not say how many rows are left: the bar moves with each batch.
    showProgress(`Run ${p.run_id}: ${p.rows_read} rows read, ${p.rows_written} written`, null);
  } else if (frame.type === "sync:done") {
    // "abandoned" closes a dead run that the new one took over: keep watching the new one.
    if (watching && p.status !== "abandoned") {
      watching = false;
      const failed = p.status === "failed";
      showProgress(`Run ${p.run_id ?? "—"} ${p.status}: ${p.rows_read} read, ${p.rows_written} written in ${p.duration_ms} ms${failed ? ` — ${p.error}` : ""}`, 100);
    }
    client.refresh("sync");
  }
});

client.start();
