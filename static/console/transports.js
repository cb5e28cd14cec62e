// The two transports behind ConsoleClient: a WebSocket, and Server-Sent Events
// (+ POST for requests) for networks that block WebSockets. Both deliver the
// same frames {id, channel, type, payload} to `onFrame`.

import { t } from "./i18n.js";

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

// 4401/4403 when the stream is refused for want of a (staff) login, else 1006.
async function refusalCode(url) {
  const controller = new AbortController();
  try {
    const response = await fetch(url, { signal: controller.signal, credentials: "same-origin" });
    controller.abort(); // a stream that did open is not wanted here
    if (response.status === 401) return 4401;
    if (response.status === 403) return 4403;
  } catch {
    // the hub is unreachable: an ordinary lost connection
  }
  return 1006;
}

export class WSTransport {
  name = "ws";

  constructor({ path, onOpen, onFrame, onClose }) {
    Object.assign(this, { path, onOpen, onFrame, onClose });
  }

  open() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let opened = false;
    const socket = new WebSocket(`${scheme}//${location.host}${this.path}`);
    this.socket = socket;
    socket.onopen = () => {
      opened = true;
      this.onOpen();
    };
    socket.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return; // the server only sends JSON; ignore anything else
      }
      this.onFrame(frame);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return; // a socket we already gave up on
      this.socket = null;
      this.onClose({ code: event.code, reason: event.reason, opened });
    };
  }

  // Channels are joined with subscribe requests over the socket itself.
  get subscribesInBand() {
    return true;
  }

  send(frame) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error(t("not connected")));
    }
    this.socket.send(JSON.stringify(frame));
    return Promise.resolve(null); // the answer arrives as a frame
  }

  close(code = 1000, reason = "client closed") {
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close(code, reason);
  }
}

export class SSETransport {
  name = "sse";

  constructor({ eventsPath, requestPath, onOpen, onFrame, onClose }) {
    Object.assign(this, { eventsPath, requestPath, onOpen, onFrame, onClose });
    this.channels = [];
  }

  // Channels are part of the stream's URL: changing them reopens the stream,
  // which sends fresh snapshots.
  get subscribesInBand() {
    return false;
  }

  setChannels(channels) {
    this.channels = [...channels];
  }

  open() {
    const query = encodeURIComponent(this.channels.join(","));
    const url = `${this.eventsPath}?channels=${query}`;
    const source = new EventSource(url);
    this.source = source;
    let opened = false;
    source.onopen = () => {
      opened = true;
      this.onOpen();
    };
    source.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "error" && frame.id === null && frame.payload?.code) {
        // The server refused the stream (e.g. too many subscribers).
        this._closed({ code: frame.payload.code, reason: frame.payload.reason, opened });
        return;
      }
      this.onFrame(frame);
    };
    // EventSource would retry by itself; ConsoleClient owns the retry policy.
    source.onerror = async () => {
      if (this.source !== source) return;
      source.close();
      // EventSource hides HTTP statuses: ask once whether the hub refused us.
      const code = opened ? 1006 : await refusalCode(url);
      this._closed({ code, reason: code === 1006 ? t("stream lost") : t("login required"), opened });
    };
  }

  _closed(info) {
    if (!this.source) return;
    this.source.close();
    this.source = null;
    this.onClose(info);
  }

  async send(frame) {
    if (!this.source) throw new Error(t("not connected"));
    const response = await fetch(this.requestPath, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(frame),
    });
    let answer;
    try {
      answer = await response.json();
    } catch {
      answer = { id: frame.id, type: "error", payload: { reason: `HTTP ${response.status}` } };
    }
    // DRF's own refusals ({"detail": ...}) become error frames too.
    if (!answer.type) {
      answer = { id: frame.id, type: "error", payload: { reason: answer.detail || `HTTP ${response.status}` } };
    }
    return answer;
  }

  close() {
    const source = this.source;
    this.source = null;
    if (source) source.close();
  }
}
