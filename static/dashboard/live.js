// The dashboard's websocket: one connection, a visible indicator, reconnect with backoff,
// and a re-sync from the API after every reconnect so that nothing sent while the socket
// was down is missed.

const PING_EVERY_MS = 25000;
const PONG_WITHIN_MS = 10000;

export class Live {
  constructor({ indicator, onEvent, onResync, onOpen }) {
    this.indicator = indicator;
    this.onEvent = onEvent;
    this.onResync = onResync;
    this.onOpen = onOpen;
    this.attempt = 0;
    this.connectedOnce = false;
    this.socket = null;
    this.timers = {};
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}/ws/dashboard/`;
  }

  show(state, text) {
    this.indicator.dataset.state = state;
    this.indicator.textContent = text;
  }

  start() {
    this.show("connecting", "connecting");
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.attempt = 0;
      this.show("live", "live");
      this.keepAlive();
      this.onOpen?.();
      // Events sent while we were away are gone: read the current state from the API.
      if (this.connectedOnce) this.onResync();
      this.connectedOnce = true;
    });
    socket.addEventListener("message", (message) => {
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      if (data.event === "pong") {
        clearTimeout(this.timers.pong);
        return;
      }
      this.onEvent(data.event, data.payload || {});
    });
    socket.addEventListener("close", (event) => {
      clearInterval(this.timers.ping);
      clearTimeout(this.timers.pong);
      if (this.socket !== socket) return;
      if (event.code === 4401) {
        this.show("offline", "signed out");
        return;
      }
      this.retry();
    });
  }

  retry() {
    this.attempt += 1;
    const delay = Math.min(10000, 500 * 2 ** (this.attempt - 1)) * (0.8 + Math.random() * 0.4);
    this.show("offline", `offline - retrying in ${Math.ceil(delay / 1000)} s`);
    clearTimeout(this.timers.retry);
    this.timers.retry = setTimeout(() => this.start(), delay);
  }

  send(message) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  keepAlive() {
    clearInterval(this.timers.ping);
    this.timers.ping = setInterval(() => {
      if (this.socket.readyState !== WebSocket.OPEN) return;
      this.socket.send(JSON.stringify({ type: "ping" }));
      this.timers.pong = setTimeout(() => this.socket.close(), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  // The consumer joins the user's account groups when the socket opens: after adding an
  // account, reconnect so its events arrive too.
  reconnect() {
    if (this.socket) this.socket.close();
  }
}
