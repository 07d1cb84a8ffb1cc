// The sensor table (GET /api/sensors, all pages) with search, status filter and sorting, and the
// detail dialog of one sensor (GET /api/sensors/{id}) with its live heartbeats from the feed.

import { ApiError, allSensors, api } from "./api.js";
import { el } from "./dom.js";
import { NONE, clock, dateTime, seconds } from "./format.js";

/** Rows rendered at most; the search narrows the rest. */
export const MaxRows = 500;

const StatusOrder = { silent: 0, online: 1, pending: 2, retired: 3 };
// Loading every sensor is a few pages of 1000; in a busy fleet the counts change every second.
const MinRefreshGap = 5000;

const compareBy = {
  id: (a, b) => a.id.localeCompare(b.id),
  status: (a, b) => (StatusOrder[a.status] ?? 9) - (StatusOrder[b.status] ?? 9),
  tags: (a, b) => a.tags.join(",").localeCompare(b.tags.join(",")),
  lastHeartbeatAt: (a, b) => (Date.parse(a.lastHeartbeatAt ?? "") || 0) - (Date.parse(b.lastHeartbeatAt ?? "") || 0),
  heartbeatCount: (a, b) => a.heartbeatCount - b.heartbeatCount,
  meanIntervalSeconds: (a, b) => (a.meanIntervalSeconds ?? -1) - (b.meanIntervalSeconds ?? -1),
  silenceThresholdSeconds: (a, b) => a.silenceThresholdSeconds - b.silenceThresholdSeconds,
};

export class SensorTable {
  #table;
  #body;
  #search;
  #status;
  #info;
  #onOpen;
  #onUnauthorized;
  #sensors = [];
  #complete = true;
  #sort = { key: "status", direction: 1 };
  #loading = false;
  #again = false;
  #lastLoad = 0;
  #timer = 0;
  #error = null;

  constructor({ table, search, status, info, onOpen, onUnauthorized }) {
    this.#table = table;
    this.#body = table.tBodies[0];
    this.#search = search;
    this.#status = status;
    this.#info = info;
    this.#onOpen = onOpen;
    this.#onUnauthorized = onUnauthorized;
    search.addEventListener("input", () => this.#render());
    status.addEventListener("change", () => this.#render());
    for (const header of table.tHead.querySelectorAll("th[data-sort]")) {
      header.querySelector("button").addEventListener("click", () => this.#sortBy(header.dataset.sort));
    }
  }

  clear() {
    this.#sensors = [];
    this.#render();
  }

  /** Loads all sensors again: now, or as soon as the previous load and the minimum gap allow. */
  refresh() {
    if (this.#loading) {
      this.#again = true;
      return;
    }
    const wait = this.#lastLoad + MinRefreshGap - Date.now();
    clearTimeout(this.#timer);
    if (wait > 0) {
      this.#timer = setTimeout(() => this.refresh(), wait);
      return;
    }
    this.#load();
  }

  stop() {
    clearTimeout(this.#timer);
  }

  async #load() {
    this.#loading = true;
    this.#lastLoad = Date.now();
    try {
      const { items, complete } = await allSensors();
      this.#sensors = items;
      this.#complete = complete;
      this.#error = null;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        this.#onUnauthorized();
        return;
      }
      this.#error = `Could not load sensors: ${error.message}`;
    } finally {
      this.#loading = false;
      this.#render();
      if (this.#again) {
        this.#again = false;
        this.refresh();
      }
    }
  }

  #sortBy(key) {
    this.#sort = { key, direction: this.#sort.key === key ? -this.#sort.direction : 1 };
    this.#render();
  }

  #visible() {
    const query = this.#search.value.trim().toLowerCase();
    const status = this.#status.value;
    const matches = this.#sensors.filter((sensor) =>
      (!status || sensor.status === status) &&
      (!query || sensor.id.toLowerCase().includes(query) || sensor.tags.some((tag) => tag.toLowerCase().includes(query))));
    const compare = compareBy[this.#sort.key];
    const { direction } = this.#sort;
    return matches.sort((a, b) => direction * compare(a, b) || a.id.localeCompare(b.id));
  }

  #render() {
    for (const header of this.#table.tHead.querySelectorAll("th[data-sort]")) {
      const active = header.dataset.sort === this.#sort.key;
      header.setAttribute("aria-sort", active ? (this.#sort.direction > 0 ? "ascending" : "descending") : "none");
    }
    const focusedId = document.activeElement?.closest?.("tr[data-sensor-id]")?.dataset.sensorId;
    const visible = this.#visible();
    const rows = visible.slice(0, MaxRows).map((sensor) => this.#row(sensor));
    if (rows.length === 0) {
      const text = this.#sensors.length === 0 ? (this.#loading ? "Loading…" : "No sensors yet.") : "No sensor matches.";
      rows.push(el("tr", { class: "empty" }, el("td", { colspan: 7, class: "muted", text })));
    }
    this.#body.replaceChildren(...rows);
    if (focusedId) {
      this.#body.querySelector(`tr[data-sensor-id="${CSS.escape(focusedId)}"] button`)?.focus();
    }
    const shown = Math.min(visible.length, MaxRows);
    let info = `${shown} of ${this.#sensors.length} sensors shown`;
    if (visible.length > MaxRows) {
      info += ` (first ${MaxRows} matches; refine the search)`;
    }
    if (!this.#complete) {
      info += "; the fleet is larger than the page loads";
    }
    this.#info.textContent = this.#error ?? info;
  }

  #row(sensor) {
    return el("tr", { "data-sensor-id": sensor.id, "data-status": sensor.status },
      el("th", { scope: "row" },
        el("button", { type: "button", class: "link", title: `Details of ${sensor.id}`, onClick: () => this.#onOpen(sensor.id), text: sensor.id })),
      el("td", {}, statusBadge(sensor.status)),
      el("td", {}, el("div", { class: "tags" }, ...sensor.tags.map((tag) => el("span", { class: "tag", text: tag })))),
      el("td", { title: sensor.lastHeartbeatAt ?? "", text: dateTime(sensor.lastHeartbeatAt) }),
      el("td", { class: "num", text: String(sensor.heartbeatCount) }),
      el("td", { class: "num", text: seconds(sensor.meanIntervalSeconds) }),
      el("td", { class: "num", text: `${sensor.silenceThresholdSeconds} s` }));
  }
}

export function statusBadge(status) {
  return el("span", { class: `badge status status-${status}`, text: status });
}

/** The dialog of one sensor; subscribes to its feed while open. */
export class SensorDetail {
  #dialog;
  #feed;
  #onUnauthorized;
  #sensorId = null;
  #last = null;

  constructor({ dialog, feed, onUnauthorized }) {
    this.#dialog = dialog;
    this.#feed = feed;
    this.#onUnauthorized = onUnauthorized;
    dialog.querySelector("#detail-close").addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => this.#closed());
    feed.addEventListener("sensor", (event) => this.#update(event.detail.sensor));
  }

  async open(sensorId) {
    if (this.#sensorId && this.#sensorId !== sensorId) {
      this.#feed.unsubscribe(this.#sensorId);
    }
    this.#sensorId = sensorId;
    this.#last = null;
    this.#dialog.querySelector("#detail-id").textContent = sensorId;
    this.#dialog.querySelector("#detail-fields").replaceChildren();
    this.#dialog.querySelector("#detail-heartbeats").replaceChildren();
    this.#error(null);
    if (!this.#dialog.open) {
      this.#dialog.showModal();
    }
    this.#feed.subscribe(sensorId);
    try {
      const sensor = await api.sensor(sensorId);
      if (this.#sensorId === sensorId) {
        this.#update(sensor, { initial: true });
      }
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        this.#onUnauthorized();
        return;
      }
      this.#error(error instanceof ApiError && error.status === 404 ? "This sensor no longer exists." : `Could not load the sensor: ${error.message}`);
    }
  }

  close() {
    if (this.#dialog.open) {
      this.#dialog.close();
    }
  }

  #closed() {
    if (this.#sensorId) {
      this.#feed.unsubscribe(this.#sensorId);
    }
    this.#sensorId = null;
  }

  #error(text) {
    const node = this.#dialog.querySelector("#detail-error");
    node.textContent = text ?? "";
    node.hidden = !text;
  }

  #update(sensor, { initial = false } = {}) {
    if (!sensor || sensor.id !== this.#sensorId) {
      return;
    }
    if (initial && this.#last && this.#last.heartbeatCount >= sensor.heartbeatCount) {
      return; // the feed was quicker than the read
    }
    const fields = [
      ["Status", statusBadge(sensor.status)],
      ["Tags", sensor.tags.length ? sensor.tags.join(", ") : NONE],
      ["Created", dateTime(sensor.createdAt)],
      ["First heartbeat", dateTime(sensor.firstHeartbeatAt)],
      ["Last heartbeat", dateTime(sensor.lastHeartbeatAt)],
      ["Heartbeats", String(sensor.heartbeatCount)],
      ["Mean interval", seconds(sensor.meanIntervalSeconds)],
      ["Silence threshold", `${sensor.silenceThresholdSeconds} s`],
    ];
    this.#dialog.querySelector("#detail-fields").replaceChildren(
      ...fields.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", {}, value)]));

    const previous = this.#last;
    this.#last = sensor;
    if (initial || (previous && previous.heartbeatCount === sensor.heartbeatCount && previous.status === sensor.status)) {
      return;
    }
    const statusChanged = previous && previous.status !== sensor.status;
    const what = previous && statusChanged && previous.heartbeatCount === sensor.heartbeatCount
      ? `now ${sensor.status}`
      : `heartbeat #${sensor.heartbeatCount}${statusChanged ? `, now ${sensor.status}` : ""}`;
    const at = previous && previous.heartbeatCount === sensor.heartbeatCount ? new Date().toISOString() : sensor.lastHeartbeatAt;
    const list = this.#dialog.querySelector("#detail-heartbeats");
    list.prepend(el("li", { "data-heartbeat-count": sensor.heartbeatCount },
      el("time", { datetime: at, text: clock(at) }), el("span", { text: what })));
    while (list.children.length > 50) {
      list.lastElementChild.remove();
    }
  }
}
