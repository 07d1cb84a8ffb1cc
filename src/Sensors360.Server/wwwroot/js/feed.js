// The live feed, GET /ws/dashboard (docs/websocket.md), with reconnection.
//
// States: "connecting" (first attempt), "live" (a snapshot arrived on the open socket), "reconnecting"
// (after any close or error, waiting or trying again), "offline" (stopped). After a close it waits
// with exponential backoff and full jitter: a random delay between half and all of
// min(MaxDelay, BaseDelay × 2^attempt). Before each attempt it checks the session with
// GET /api/auth/me, since a refused upgrade looks to a browser like any other failure: a 401 there
// ends the feed with an "unauthorized" event. A socket silent for longer than StaleAfter (the server
// sends a snapshot at least every 5 s) is dropped and reconnected.
//
// Subscriptions are counted per sensor id: the sensor table and the detail dialog may both want the same
// sensor, and it stays subscribed until neither does. Only the changes are sent; after a reconnect the
// whole set is sent again, since the new socket starts with none.

import { ApiError, api } from "./api.js";

export const BaseDelay = 500;
export const MaxDelay = 10_000;
export const StaleAfter = 15_000;
/** Sensors one socket may subscribe to (the server refuses more). */
export const MaxSubscriptions = 100;

export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(MaxDelay, BaseDelay * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export class DashboardFeed extends EventTarget {
  #socket = null;
  #running = false;
  #generation = 0;
  #attempt = 0;
  #retryTimer = 0;
  #staleTimer = 0;
  #subscriptions = new Map(); // sensor id → how many parts of the page want it
  state = "offline";
  retryAt = null;

  start() {
    if (this.#running) {
      return;
    }
    this.#running = true;
    this.#generation++;
    this.#attempt = 0;
    window.addEventListener("online", this.#retryNow);
    this.#setState("connecting");
    this.#connect();
  }

  stop() {
    this.#running = false;
    this.#generation++;
    window.removeEventListener("online", this.#retryNow);
    clearTimeout(this.#retryTimer);
    this.#drop();
    this.#subscriptions.clear();
    this.#setState("offline");
  }

  /** Adds one reference to each sensor; the server hears only of sensors nobody wanted before. */
  subscribe(...sensorIds) {
    const added = [];
    for (const id of sensorIds) {
      const references = this.#subscriptions.get(id) ?? 0;
      this.#subscriptions.set(id, references + 1);
      if (references === 0) {
        added.push(id);
      }
    }
    if (added.length > 0) {
      this.#send({ type: "subscribe", sensors: added });
    }
  }

  /** Drops one reference to each sensor; the server hears only of sensors nobody wants any more. */
  unsubscribe(...sensorIds) {
    const removed = [];
    for (const id of sensorIds) {
      const references = this.#subscriptions.get(id) ?? 0;
      if (references > 1) {
        this.#subscriptions.set(id, references - 1);
      } else if (references === 1) {
        this.#subscriptions.delete(id);
        removed.push(id);
      }
    }
    if (removed.length > 0) {
      this.#send({ type: "unsubscribe", sensors: removed });
    }
  }

  #retryNow = () => {
    if (this.#running && this.state === "reconnecting" && this.retryAt !== null) {
      clearTimeout(this.#retryTimer);
      this.#connect();
    }
  };

  #setState(state) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, retryAt: this.retryAt } }));
  }

  async #connect() {
    const generation = this.#generation;
    const current = () => this.#running && generation === this.#generation;
    this.retryAt = null;
    if (this.state !== "connecting") {
      this.#setState("reconnecting");
    }
    try {
      await api.me();
    } catch (error) {
      if (!current()) {
        return;
      }
      if (error instanceof ApiError && error.status === 401) {
        this.stop();
        this.dispatchEvent(new CustomEvent("unauthorized"));
        return;
      }
      this.#scheduleRetry();
      return;
    }
    if (!current()) {
      return;
    }

    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let socket;
    try {
      socket = new WebSocket(`${scheme}//${location.host}/ws/dashboard`);
    } catch {
      this.#scheduleRetry();
      return;
    }
    this.#socket = socket;
    socket.onopen = () => {
      this.#touch();
      if (this.#subscriptions.size > 0) {
        this.#send({ type: "subscribe", sensors: [...this.#subscriptions.keys()] });
      }
    };
    socket.onmessage = (event) => this.#receive(event.data);
    socket.onclose = (event) => this.#closed(socket, event.code);
    socket.onerror = () => {
      // A close event always follows; reconnection starts there.
    };
  }

  #receive(data) {
    this.#touch();
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (message?.type === "snapshot" && this.state !== "live") {
      this.#attempt = 0;
      this.#setState("live");
    }
    if (typeof message?.type === "string") {
      this.dispatchEvent(new CustomEvent(message.type, { detail: message }));
    }
  }

  #closed(socket, code) {
    if (socket !== this.#socket) {
      return;
    }
    this.#socket = null;
    clearTimeout(this.#staleTimer);
    if (this.#running) {
      this.dispatchEvent(new CustomEvent("closed", { detail: { code } }));
      this.#scheduleRetry();
    }
  }

  #scheduleRetry() {
    const delay = backoffDelay(this.#attempt++);
    this.retryAt = Date.now() + delay;
    this.#setState("reconnecting");
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
  }

  #touch() {
    clearTimeout(this.#staleTimer);
    this.#staleTimer = setTimeout(() => {
      // Nothing for too long: the connection is dead even if no close arrived.
      const socket = this.#socket;
      this.#drop();
      if (socket && this.#running) {
        this.#scheduleRetry();
      }
    }, StaleAfter);
  }

  #drop() {
    clearTimeout(this.#staleTimer);
    const socket = this.#socket;
    this.#socket = null;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      try {
        socket.close(1000);
      } catch {
        // Already closing.
      }
    }
  }

  #send(message) {
    if (this.#socket?.readyState === WebSocket.OPEN) {
      this.#socket.send(JSON.stringify(message));
    }
  }
}
