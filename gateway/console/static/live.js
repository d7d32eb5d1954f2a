// Live updates over /api/v1/ws: reconnects by itself with backoff, and after each reconnect
// asks the gateway to replay what was missed (sync by seq) so nothing is lost in the gap.
// A socket closed with 4001 (session revoked or expired) or refused before its hello is not
// retried with the same token: onSessionEnded decides (the console goes to its sign-in page).

import { session } from "./api.js";

export class Live {
  constructor({ onEvent, onState, syncState, onSessionEnded }) {
    this.onEvent = onEvent;       // (type, data) => void
    this.onState = onState;       // ("connected" | "connecting" | "offline") => void
    this.syncState = syncState;   // () => {conversation id: last seq seen}
    this.onSessionEnded = onSessionEnded; // (reason or null: check the token) => void
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
    // The token travels in the subprotocol list, never in the URL (URLs end up in access logs).
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/ws`, ["gateway.v1", `bearer.${session.token}`]);
    this.ws = ws;
    let greeted = false;
    this.onState("connecting");
    ws.onmessage = (msg) => {
      let event;
      try { event = JSON.parse(msg.data); } catch { return; }
      if (event.type === "hello") {
        greeted = true;
        const reconnect = this.retries > 0;
        this.retries = 0;
        this.onState("connected");
        this.send({ type: "sync", conversations: this.syncState() });
        this.onEvent("connected", { reconnect });
        return;
      }
      this.onEvent(event.type, event.data || {});
    };
    ws.onclose = (ev) => {
      if (this.ws === ws) this.ws = null;
      if (this.stopped) return;
      if (ev.code === 4001) {
        this.stop();
        this.onState("offline");
        this.onSessionEnded(ev.reason || "session ended");
        return;
      }
      // Refused at the handshake (a 401 looks like any failure here): let the page check the
      // token, which signs out on 401; the retries go on while the gateway is merely down.
      if (!greeted) this.onSessionEnded(null);
      this.retries += 1;
      this.onState("offline");
      const delay = Math.min(15000, 500 * 2 ** Math.min(this.retries, 5)) * (0.75 + Math.random() / 2);
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }
}
