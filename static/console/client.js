// WSClient: the console's one connection to the hub (docs/console.md).
//
// - reconnects by itself with exponential backoff, jitter and a cap;
// - heartbeats both ways; a server silent past the timeout counts as lost;
// - request(type, payload) -> Promise of the one answer with the same id, or a timeout;
// - subscriptions survive reconnects: each one is re-subscribed and gets a fresh
//   snapshot, so events sent while the page was away are not missed;
// - transport "auto" falls back from WebSocket to Server-Sent Events after
//   repeated WebSocket failures; "ws" and "sse" force one.
// Events: "state" ({state, transport, retryAt, reason}) and "frame" (every frame).

import { t, tf } from "./i18n.js";
import { SSETransport, WSTransport } from "./transports.js";

export const FALLBACK_AFTER = 3; // WebSocket failures in a row before auto switches to SSE
const DENIED = new Set([4401, 4403]); // retrying will not help: log in again

export class RequestError extends Error {}

// "Equal jitter": half the exponential delay fixed, half random; never above `cap`.
export function backoffDelay(attempt, { base = 500, cap = 30000, random = Math.random } = {}) {
  const ceiling = Math.min(cap, base * 2 ** attempt);
  return ceiling / 2 + random() * (ceiling / 2);
}

export class WSClient extends EventTarget {
  constructor(config, { requestTimeout = 10000, backoff = {} } = {}) {
    super();
    this.config = config;
    this.mode = config.transport || "auto";
    this.active = this.mode === "sse" ? "sse" : "ws";
    this.requestTimeout = requestTimeout;
    this.backoff = backoff;
    this.subscriptions = new Map(); // channel -> Set of handlers
    this.pending = new Map(); // request id -> {resolve, reject, timer}
    this.nextId = 1;
    this.attempt = 0;
    this.wsFailures = 0;
    this.state = "idle";
    this.transport = null;
    this.lastHeard = 0;
    this.heartbeat = { interval: config.heartbeatInterval || 20, timeout: config.heartbeatTimeout || 60 };
  }

  start() {
    window.addEventListener("online", () => this.reconnectNow());
    this._connect();
    return this;
  }

  reconnectNow() {
    if (this.state !== "reconnecting") return;
    clearTimeout(this.retryTimer);
    this._connect();
  }

  // --- subscriptions ------------------------------------------------------------

  subscribe(channel, handler) {
    let handlers = this.subscriptions.get(channel);
    const fresh = !handlers;
    if (fresh) {
      handlers = new Set();
      this.subscriptions.set(channel, handlers);
    }
    handlers.add(handler);
    // Live: join now. SSE still connecting: reopen with the new channel list.
    const inBand = this.transport?.subscribesInBand;
    if (fresh && this.transport && (this.state === "live" || !inBand)) this._join([channel]);
    return () => this.unsubscribe(channel, handler);
  }

  unsubscribe(channel, handler) {
    const handlers = this.subscriptions.get(channel);
    if (!handlers) return;
    handlers.delete(handler);
    if (handlers.size) return;
    this.subscriptions.delete(channel);
    if (this.state !== "live") return;
    if (this.transport.subscribesInBand) {
      this.request("unsubscribe", { channel }, { channel }).catch(() => {});
    } else {
      this._restart();
    }
  }

  // A fresh snapshot of a subscribed channel (e.g. after a sync changed counts).
  refresh(channel) {
    if (this.state !== "live" || !this.subscriptions.has(channel)) return;
    this._join([channel]);
  }

  _join(channels) {
    if (!this.transport.subscribesInBand) {
      this._restart(); // SSE: the channel list is part of the stream
      return;
    }
    for (const channel of channels) {
      this.request("subscribe", { channel }, { channel }).catch((error) =>
        this._emit("frame", { id: null, channel, type: "error", payload: { reason: error.message } }),
      );
    }
  }

  // --- requests -----------------------------------------------------------------

  request(type, payload = {}, { channel = "system", timeout = this.requestTimeout } = {}) {
    if (this.state !== "live") return Promise.reject(new RequestError(t("offline: not connected to the hub")));
    const id = `r${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestError(`${type}: no answer within ${timeout / 1000} s`));
      }, timeout);
      this.pending.set(id, { resolve, reject, timer });
      this.transport
        .send({ id, channel, type, payload })
        .then((answer) => answer && this._settle(answer))
        .catch((error) => this._fail(id, error));
    });
  }

  _settle(frame) {
    const waiting = this.pending.get(frame.id);
    if (!waiting) return false;
    this.pending.delete(frame.id);
    clearTimeout(waiting.timer);
    if (frame.type === "error") waiting.reject(new RequestError(frame.payload?.reason || "error"));
    else waiting.resolve(frame.payload);
    return true;
  }

  _fail(id, error) {
    const waiting = this.pending.get(id);
    if (!waiting) return;
    this.pending.delete(id);
    clearTimeout(waiting.timer);
    waiting.reject(error instanceof RequestError ? error : new RequestError(error.message));
  }

  // --- connection -----------------------------------------------------------------

  _connect() {
    const handlers = {
      onOpen: () => {},
      onFrame: (frame) => transport === this.transport && this._onFrame(frame),
      onClose: (info) => transport === this.transport && this._onClose(info),
    };
    const transport =
      this.active === "ws"
        ? new WSTransport({ path: this.config.wsPath, ...handlers })
        : new SSETransport({ eventsPath: this.config.eventsPath, requestPath: this.config.requestPath, ...handlers });
    if (!transport.subscribesInBand) transport.setChannels(this.subscriptions.keys());
    this.transport = transport;
    this._setState("connecting");
    transport.open();
  }

  _restart() {
    // Reopen at once (SSE channel change): not a failure, no backoff.
    const old = this.transport;
    this.transport = null;
    if (old) old.close();
    this._stopHeartbeat();
    this._connect();
  }

  _onFrame(frame) {
    this.lastHeard = Date.now();
    if (frame.type === "hello") {
      this.attempt = 0;
      if (this.active === "ws") this.wsFailures = 0;
      const { heartbeat_interval: interval, heartbeat_timeout: timeout } = frame.payload || {};
      if (interval) this.heartbeat = { interval, timeout };
      this._setState("live");
      this._startHeartbeat();
      if (this.transport.subscribesInBand) this._join([...this.subscriptions.keys()]);
    } else if (frame.id != null && this._settle(frame)) {
      return;
    }
    this._emit("frame", frame);
    const handlers = this.subscriptions.get(frame.channel);
    if (handlers && frame.type !== "ok") for (const handler of [...handlers]) handler(frame);
  }

  _onClose({ code, reason, opened }) {
    this.transport = null;
    this._stopHeartbeat();
    for (const id of [...this.pending.keys()]) this._fail(id, new RequestError(t("connection lost")));
    if (DENIED.has(code)) {
      this._setState("denied", { reason: reason || t("login required") });
      return;
    }
    // A WebSocket that never opened while plain HTTP works looks blocked (a proxy,
    // a firewall); when HTTP fails too, the hub is just down (e.g. restarting).
    const suspectBlocked = this.mode === "auto" && this.active === "ws" && !opened;
    const delay = backoffDelay(this.attempt++, this.backoff);
    this._setState("reconnecting", { retryAt: Date.now() + delay, reason: reason || tf("closed (%(code)s)", { code }) });
    this.retryTimer = setTimeout(async () => {
      if (this.state !== "reconnecting") return; // reconnectNow() got there first
      if (suspectBlocked && (await this._httpReachable())) {
        this.wsFailures += 1;
        if (this.wsFailures >= FALLBACK_AFTER) {
          this.active = "sse";
          this.attempt = 0;
        }
      }
      this._connect();
    }, delay);
  }

  async _httpReachable() {
    try {
      await fetch(this.config.probePath, { cache: "no-store", credentials: "same-origin" });
      return true; // any HTTP answer (even 503) means the server is there
    } catch {
      return false;
    }
  }

  _startHeartbeat() {
    this._stopHeartbeat();
    const { interval, timeout } = this.heartbeat;
    let nextBeat = Date.now() + interval * 1000;
    this.heartbeatTimer = setInterval(
      () => {
        const now = Date.now();
        if (now - this.lastHeard > timeout * 1000) {
          // The server (or the path to it) went quiet: treat it as lost.
          const transport = this.transport;
          this.transport = null;
          transport?.close(4000, "heartbeat timeout");
          this._onClose({ code: 4408, reason: t("heartbeat timeout"), opened: true });
        } else if (now >= nextBeat && this.transport?.subscribesInBand) {
          nextBeat = now + interval * 1000;
          this.transport.send({ id: null, channel: "system", type: "heartbeat", payload: {} }).catch(() => {});
        }
      },
      Math.min(interval, timeout / 4) * 1000,
    );
  }

  _stopHeartbeat() {
    clearInterval(this.heartbeatTimer);
  }

  _setState(state, extra = {}) {
    this.state = state;
    this._emit("state", { state, transport: this.active, ...extra });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
