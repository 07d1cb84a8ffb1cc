// The sensor table with search, status filter and sorting, and the detail dialog of one sensor
// (GET /api/sensors/{id}) with its live heartbeats from the feed, its heartbeat timeline over the last 24 hours
// and one chart per metric it sends (GET /api/sensors/{id}/series, drawn by chart.js).
//
// The table keeps itself current from the feed rather than by polling. The whole list (GET /api/sensors,
// all pages) is read only when asked to (app.js asks when the fleet's composition changes or a connection
// starts, and, while more rows are shown than the feed can watch, at most every UnwatchedRefreshGap). The
// table subscribes to the sensors of its first WatchedRows shown rows and replaces a row from each `sensor`
// frame. An alert frame sets the status it implies (`applyAlert`): a raise makes the sensor silent; a
// resolution (online again, or retired) is read with GET /api/sensors/{id} when the row is shown, or when
// it next is. A row is updated in place when the sensor keeps its place in the shown order, otherwise the
// table is rendered again (at most once per animation frame).

import { ApiError, allSensors, api } from "./api.js";
import { SeriesChart } from "./chart.js";
import { el } from "./dom.js";
import { MaxSubscriptions } from "./feed.js";
import { NONE, clock, dateTime, seconds } from "./format.js";

/** Rows rendered at most; the search narrows the rest. */
export const MaxRows = 500;
/** Shown rows kept live through the feed: the socket's limit, less room for the detail dialog's sensor. */
export const WatchedRows = MaxSubscriptions - 10;

const StatusOrder = { silent: 0, online: 1, paused: 2, pending: 3, retired: 4 };
// Loading every sensor is a few pages of 1000; in a busy fleet the counts change every second.
const MinRefreshGap = 5000;
// Shown rows past the watched ones get no frames; the list is read again this often while there are any.
const UnwatchedRefreshGap = 15_000;
// Single-sensor reads after alert frames; a burst of alerts waits in a queue instead of flooding the server.
const ParallelReads = 4;

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
  #feed;
  #onOpen;
  #onUnauthorized;
  #sensors = new Map(); // id → sensor, every sensor loaded
  #complete = true;
  #sort = { key: "status", direction: 1 };
  #loading = false;
  #again = false;
  #lastLoad = 0;
  #timer = 0;
  #error = null;
  #visible = []; // the sensors matching search and filter, in shown order, as last rendered
  #positions = new Map(); // id → index in #visible
  #watched = new Set(); // ids this table subscribed to
  #renderFrame = 0;
  #toRead = new Set();
  #reading = 0;
  #stale = new Set(); // loaded sensors an alert frame resolved while their row was not shown

  constructor({ table, search, status, info, feed, onOpen, onUnauthorized }) {
    this.#table = table;
    this.#body = table.tBodies[0];
    this.#search = search;
    this.#status = status;
    this.#info = info;
    this.#feed = feed;
    this.#onOpen = onOpen;
    this.#onUnauthorized = onUnauthorized;
    search.addEventListener("input", () => this.#render());
    status.addEventListener("change", () => this.#render());
    for (const header of table.tHead.querySelectorAll("th[data-sort]")) {
      header.querySelector("button").addEventListener("click", () => this.#sortBy(header.dataset.sort));
    }
    feed.addEventListener("sensor", (event) => this.#update(event.detail.sensor));
  }

  clear() {
    this.#sensors = new Map();
    this.#toRead.clear();
    this.#stale.clear();
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
    cancelAnimationFrame(this.#renderFrame);
    this.#renderFrame = 0;
  }

  /** While shown rows go unwatched, reads the list again once UnwatchedRefreshGap has passed (app.js calls this per snapshot). */
  keepShownCurrent() {
    if (Math.min(this.#visible.length, MaxRows) > WatchedRows && Date.now() - this.#lastLoad >= UnwatchedRefreshGap) {
      this.refresh();
    }
  }

  /** An alert frame: the sensor's status as the alert implies it, read from the server only where it must be. */
  applyAlert(alert) {
    const id = alert.sensorId;
    const known = this.#sensors.get(id);
    if (!known || this.#watched.has(id)) {
      return; // not loaded: the next load brings it; watched: its own sensor frame says everything
    }
    if (!alert.resolvedAt) {
      if (known.status !== "silent") {
        this.#update({ ...known, status: "silent" });
      }
      return;
    }
    // Resolved by a heartbeat or a retirement: only a read tells which, and only a shown row needs it now.
    if ((this.#positions.get(id) ?? MaxRows) < MaxRows) {
      this.reread(id);
    } else {
      this.#stale.add(id);
    }
  }

  /** Reads one sensor again and replaces its row; sensors the table has not loaded are left to the next load. */
  reread(sensorId) {
    if (this.#sensors.has(sensorId)) {
      this.#toRead.add(sensorId);
      this.#readNext();
    }
  }

  #readNext() {
    while (this.#reading < ParallelReads && this.#toRead.size > 0) {
      const [id] = this.#toRead;
      this.#toRead.delete(id);
      this.#reading++;
      this.#read(id).finally(() => {
        this.#reading--;
        this.#readNext();
      });
    }
  }

  async #read(sensorId) {
    try {
      this.#update(await api.sensor(sensorId));
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        this.#onUnauthorized();
      }
      // Otherwise the row keeps its last state until the next frame or load.
    }
  }

  async #load() {
    this.#loading = true;
    this.#lastLoad = Date.now();
    try {
      const { items, complete } = await allSensors();
      const loaded = new Map(items.map((sensor) => [sensor.id, sensor]));
      // A frame that arrived while the pages were read may be newer than what they say.
      for (const [id, sensor] of loaded) {
        const known = this.#sensors.get(id);
        if (known && known.heartbeatCount > sensor.heartbeatCount) {
          loaded.set(id, known);
        }
      }
      this.#sensors = loaded;
      this.#stale.clear();
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

  /** A newer state of one sensor (a `sensor` frame or a single read): its row only, when it keeps its place. */
  #update(sensor) {
    const known = sensor ? this.#sensors.get(sensor.id) : undefined;
    if (!known || known.heartbeatCount > sensor.heartbeatCount) {
      return; // not in the table (the next load brings it), or older than what is shown
    }
    this.#sensors.set(sensor.id, sensor);
    if (this.#renderFrame) {
      return; // a full render is due and will show it
    }
    const index = this.#positions.get(sensor.id);
    const matches = this.#matches(sensor);
    if (index === undefined && !matches) {
      return; // filtered out before and now: nothing shown or counted changes
    }
    if (index === undefined || !matches || !this.#keepsPlace(index, sensor)) {
      this.#renderSoon();
      return;
    }
    this.#visible[index] = sensor;
    const row = this.#body.querySelector(`tr[data-sensor-id="${CSS.escape(sensor.id)}"]`);
    if (row) {
      // The first cell (the focusable button) never leaves the document, so focus stays on it.
      const [, ...stale] = row.children;
      const [, ...cells] = this.#row(sensor).children;
      row.dataset.status = sensor.status;
      stale.forEach((cell) => cell.remove());
      row.append(...cells);
    }
  }

  /** Whether `sensor` still sorts between the neighbours of the shown place `index`. */
  #keepsPlace(index, sensor) {
    const before = this.#visible[index - 1];
    const after = this.#visible[index + 1];
    return (!before || this.#compare(before, sensor) < 0) && (!after || this.#compare(sensor, after) < 0);
  }

  #sortBy(key) {
    this.#sort = { key, direction: this.#sort.key === key ? -this.#sort.direction : 1 };
    this.#render();
  }

  #matches(sensor) {
    const query = this.#search.value.trim().toLowerCase();
    const status = this.#status.value;
    return (!status || sensor.status === status) &&
      (!query || sensor.id.toLowerCase().includes(query) || sensor.tags.some((tag) => tag.toLowerCase().includes(query)));
  }

  #compare(a, b) {
    return this.#sort.direction * compareBy[this.#sort.key](a, b) || a.id.localeCompare(b.id);
  }

  // Frames can come many times a second; re-rendering hundreds of rows once per frame is enough.
  #renderSoon() {
    if (!this.#renderFrame) {
      this.#renderFrame = requestAnimationFrame(() => this.#render());
    }
  }

  #render() {
    cancelAnimationFrame(this.#renderFrame);
    this.#renderFrame = 0;
    for (const header of this.#table.tHead.querySelectorAll("th[data-sort]")) {
      const active = header.dataset.sort === this.#sort.key;
      header.setAttribute("aria-sort", active ? (this.#sort.direction > 0 ? "ascending" : "descending") : "none");
    }
    const focusedId = document.activeElement?.closest?.("tr[data-sensor-id]")?.dataset.sensorId;
    const visible = [...this.#sensors.values()].filter((sensor) => this.#matches(sensor)).sort((a, b) => this.#compare(a, b));
    this.#visible = visible;
    this.#positions = new Map(visible.map((sensor, index) => [sensor.id, index]));
    const rows = visible.slice(0, MaxRows).map((sensor) => this.#row(sensor));
    if (rows.length === 0) {
      const text = this.#sensors.size === 0 ? (this.#loading ? "Loading…" : "No sensors yet.") : "No sensor matches.";
      rows.push(el("tr", { class: "empty" }, el("td", { colspan: 7, class: "muted", text })));
    }
    this.#body.replaceChildren(...rows);
    if (focusedId) {
      this.#body.querySelector(`tr[data-sensor-id="${CSS.escape(focusedId)}"] button`)?.focus();
    }
    const shown = Math.min(visible.length, MaxRows);
    let info = `${shown} of ${this.#sensors.size} sensors shown`;
    if (visible.length > MaxRows) {
      info += ` (first ${MaxRows} matches; refine the search)`;
    }
    if (!this.#complete) {
      info += "; the fleet is larger than the page loads";
    }
    this.#info.textContent = this.#error ?? info;
    this.#watch(visible.slice(0, WatchedRows).map((sensor) => sensor.id));
    for (const sensor of visible.slice(0, MaxRows).filter((shown) => this.#stale.has(shown.id))) {
      this.#stale.delete(sensor.id);
      this.reread(sensor.id);
    }
  }

  /** Subscribes to the sensors of the top rows; tells the feed only what changed. */
  #watch(ids) {
    const next = new Set(ids);
    const gone = [...this.#watched].filter((id) => !next.has(id));
    const added = ids.filter((id) => !this.#watched.has(id));
    this.#watched = next;
    // Unsubscribe first, so the socket never holds more than its limit in between.
    this.#feed.unsubscribe(...gone);
    this.#feed.subscribe(...added);
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

/** The bar of days: the last UptimeDays UTC days, one cell each. */
export const UptimeDays = 30;

/** A day's colour class by its uptime percent: none (not monitored), full, minor (99% and up), major (90% and up), down. */
export function uptimeLevel(percent) {
  if (percent === null || percent === undefined) {
    return "none";
  }
  return percent >= 100 ? "full" : percent >= 99 ? "minor" : percent >= 90 ? "major" : "down";
}

function percentText(percent) {
  return percent === null || percent === undefined ? "not monitored" : `${Number(percent.toFixed(2))}% up`;
}

/** The history charts are read again at most this often while the dialog is open, and only after frames said something changed. */
export const HistoryRefreshGap = 30_000;
/** The history shown: the last 24 hours in 10-minute buckets. */
export const HistoryRange = 24 * 3600 * 1000;
export const HistoryPoints = 144;

/**
 * The dialog of one sensor; subscribes to its feed while open. Its history (the heartbeat timeline and a chart per
 * metric named in its latest heartbeat) is read when the dialog opens and then, while it stays open, again once
 * `sensor` frames report a change, at most every HistoryRefreshGap: never on a timer of its own.
 */
export class SensorDetail {
  #dialog;
  #feed;
  #onUnauthorized;
  #sensorId = null;
  #last = null;
  #timeline;
  #metricCharts = new Map(); // metric name → SeriesChart
  #historyLoadedAt = 0;
  #historyTimer = 0;
  #historyGeneration = 0; // answers of an older load (another sensor, a closed dialog) are dropped
  /** Operators and admins may pause and resume (app.js sets it from the role); the server refuses the rest anyway. */
  canOperate = false;

  constructor({ dialog, feed, onUnauthorized }) {
    this.#dialog = dialog;
    this.#feed = feed;
    this.#onUnauthorized = onUnauthorized;
    this.#timeline = new SeriesChart(dialog.querySelector("#detail-timeline"), dialog.querySelector("#detail-timeline-summary"));
    dialog.querySelector("#detail-close").addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => this.#closed());
    dialog.querySelector("#detail-pause").addEventListener("submit", (event) => {
      event.preventDefault();
      const seconds = Number(dialog.querySelector("#detail-pause-for").value);
      this.#pauseCommand((id) => api.pause(id, new Date(Date.now() + seconds * 1000).toISOString()));
    });
    dialog.querySelector("#detail-resume-button").addEventListener("click", () => this.#pauseCommand((id) => api.resume(id)));
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
    this.#showMetrics([]);
    this.#timeline.message("Loading…");
    if (!this.#dialog.open) {
      this.#dialog.showModal();
    }
    this.#feed.subscribe(sensorId);
    this.#loadHistory(sensorId);
    this.#loadUptime(sensorId);
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
    clearTimeout(this.#historyTimer);
    this.#historyTimer = 0;
    this.#historyGeneration++;
  }

  /** The bar of days: one cell per UTC day, coloured by its uptime, the percent in its tooltip. */
  async #loadUptime(sensorId) {
    const bar = this.#dialog.querySelector("#detail-uptime");
    const total = this.#dialog.querySelector("#detail-uptime-percent");
    bar.replaceChildren();
    total.textContent = "";
    try {
      const uptime = await api.uptime(sensorId, UptimeDays);
      if (this.#sensorId !== sensorId) {
        return;
      }
      bar.replaceChildren(...uptime.buckets.map((day) => el("li", {
        class: `uptime-day uptime-${uptimeLevel(day.uptimePercent)}`,
        "data-day": day.day,
        "data-percent": day.uptimePercent ?? "",
        title: `${day.day}: ${percentText(day.uptimePercent)}`,
        "aria-label": `${day.day}: ${percentText(day.uptimePercent)}`,
      })));
      total.textContent = uptime.uptimePercent === null ? "" : `(${Number(uptime.uptimePercent.toFixed(2))}% up)`;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        this.#onUnauthorized();
        return;
      }
      if (this.#sensorId === sensorId) {
        total.textContent = "(could not load)";
      }
    }
  }

  async #pauseCommand(send) {
    const sensorId = this.#sensorId;
    const error = this.#dialog.querySelector("#detail-pause-error");
    error.hidden = true;
    try {
      const sensor = await send(sensorId);
      this.#update(sensor, { command: true });
    } catch (failure) {
      if (failure instanceof ApiError && failure.status === 401) {
        this.#onUnauthorized();
        return;
      }
      error.textContent = failure.message;
      error.hidden = false;
    }
  }

  /** A frame said the sensor changed: read the history again once the refresh gap since the last read has passed. */
  #historyChanged() {
    if (this.#historyTimer || !this.#sensorId) {
      return; // a read is already due
    }
    const sensorId = this.#sensorId;
    const wait = Math.max(0, this.#historyLoadedAt + HistoryRefreshGap - Date.now());
    this.#historyTimer = setTimeout(() => this.#loadHistory(sensorId), wait);
  }

  async #loadHistory(sensorId) {
    clearTimeout(this.#historyTimer);
    this.#historyTimer = 0;
    const generation = ++this.#historyGeneration;
    this.#historyLoadedAt = Date.now();
    // One range for every chart, so the timeline and the metric charts line up bucket for bucket.
    const to = new Date(this.#historyLoadedAt);
    const range = { from: new Date(to.getTime() - HistoryRange).toISOString(), to: to.toISOString(), points: HistoryPoints };
    const current = () => generation === this.#historyGeneration && this.#sensorId === sensorId;
    try {
      const [beats, latest] = await Promise.all([api.series(sensorId, range), api.heartbeats(sensorId, 1)]);
      if (!current()) {
        return;
      }
      this.#timeline.show(beats);
      const names = Object.keys(latest.items?.[0]?.metrics ?? {}).sort();
      this.#showMetrics(names);
      const answers = await Promise.all(names.map((metric) =>
        api.series(sensorId, { ...range, metric }).then((series) => ({ metric, series }), (error) => ({ metric, error }))));
      if (!current()) {
        return;
      }
      for (const { metric, series, error } of answers) {
        if (error instanceof ApiError && error.status === 401) {
          this.#onUnauthorized();
          return;
        }
        const chart = this.#metricCharts.get(metric);
        if (series) {
          chart?.show(series);
        } else {
          chart?.message(`Could not load ${metric}: ${error.message}`);
        }
      }
    } catch (error) {
      if (!current()) {
        return;
      }
      if (error instanceof ApiError && error.status === 401) {
        this.#onUnauthorized();
        return;
      }
      this.#timeline.message(`Could not load the history: ${error.message}`);
    }
  }

  /** One small chart per metric name: keeps the charts of names still sent, adds new ones, drops the rest. */
  #showMetrics(names) {
    const container = this.#dialog.querySelector("#detail-metrics");
    for (const [name, chart] of this.#metricCharts) {
      if (!names.includes(name)) {
        chart.dispose();
        this.#metricCharts.delete(name);
      }
    }
    const figures = names.map((name) => {
      const existing = container.querySelector(`figure[data-metric="${CSS.escape(name)}"]`);
      if (existing && this.#metricCharts.has(name)) {
        return existing;
      }
      const canvas = el("canvas", { role: "img", "aria-label": `${name} over the last 24 hours: mean per bucket, band from min to max` });
      const summary = el("p", { class: "visually-hidden" });
      const figure = el("figure", { class: "metric-chart", "data-metric": name },
        el("figcaption", { text: name }), el("div", { class: "chart-box chart-metric" }, canvas), summary);
      const chart = new SeriesChart(canvas, summary);
      chart.message("Loading…");
      this.#metricCharts.set(name, chart);
      return figure;
    });
    container.replaceChildren(...figures);
  }

  #error(text) {
    const node = this.#dialog.querySelector("#detail-error");
    node.textContent = text ?? "";
    node.hidden = !text;
  }

  #update(sensor, { initial = false, command = false } = {}) {
    if (!sensor || sensor.id !== this.#sensorId) {
      return;
    }
    if (initial && !command && this.#last && this.#last.heartbeatCount >= sensor.heartbeatCount) {
      return; // the feed was quicker than the read
    }
    const controls = this.#dialog.querySelector("#detail-pause");
    controls.hidden = !this.canOperate || sensor.status === "retired";
    this.#dialog.querySelector("#detail-resume-button").hidden = sensor.status !== "paused";
    const fields = [
      ["Status", statusBadge(sensor.status)],
      ...(sensor.pausedUntil ? [["Paused until", dateTime(sensor.pausedUntil)]] : []),
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
    this.#historyChanged();
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
