// Live updates over /api/v1/ws: reconnects by itself with backoff, and after each reconnect
// asks the gateway to replay what was missed (sync by seq) so nothing is lost in the gap.

import { session } from "./api.js";

export class Live {
  constructor({ onEvent, onState, syncState }) {
    this.onEvent = onEvent;       // (type, data) => void
    this.onState = onState;       // ("connected" | "connecting" | "offline") => void
    this.syncState = syncState;   // () => {conversation id: last seq seen}
    this.ws = null;
    this.retries = 0;
    this.stopped = false;
    this.timer = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close();
    this.ws = null;
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  connect() {
    if (this.stopped || !session.token) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/ws?token=${encodeURIComponent(session.token)}`);
    this.ws = ws;
    this.onState("connecting");
    ws.onmessage = (msg) => {
      let event;
      try { event = JSON.parse(msg.data); } catch { return; }
      if (event.type === "hello") {
        const reconnect = this.retries > 0;
        this.retries = 0;
        this.onState("connected");
        this.send({ type: "sync", conversations: this.syncState() });
        this.onEvent("connected", { reconnect });
        return;
      }
      this.onEvent(event.type, event.data || {});
    };
    ws.onclose = () => {
      if (this.ws === ws) this.ws = null;
      if (this.stopped) return;
      this.retries += 1;
      this.onState("offline");
      const delay = Math.min(15000, 500 * 2 ** Math.min(this.retries, 5)) * (0.75 + Math.random() / 2);
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }
}
