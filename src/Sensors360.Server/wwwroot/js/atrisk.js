// The At risk panel: the live sensors most likely to fail within the default horizon, from
// GET /api/analytics/at-risk (the server rescores its ranking every 15 minutes, so a timer of RefreshEvery is
// enough), with what raises each one's risk in words and a line on the model behind it. Read at sign-in, every
// RefreshEvery, and again when the feed reconnects after a read failed. Without a model yet (503) the panel shows
// the server's reason and reads again when its Retry-After says; a route missing (404) or failing shows "—".

import { ApiError, api } from "./api.js";
import { el } from "./dom.js";
import { NONE, count, dateTime, duration, fixed, percent } from "./format.js";

/** Sensors listed. */
export const Listed = 20;
export const RefreshEvery = 5 * 60_000;

export class AtRiskPanel {
  #card;
  #table;
  #body;
  #scope;
  #message;
  #model;
  #onOpen;
  #onUnauthorized;
  #timer = 0;
  #loading = false;
  #running = false;
  #failed = false;

  constructor({ card, table, scope, message, model, onOpen, onUnauthorized }) {
    this.#card = card;
    this.#table = table;
    this.#body = table.tBodies[0];
    this.#scope = scope;
    this.#message = message;
    this.#model = model;
    this.#onOpen = onOpen;
    this.#onUnauthorized = onUnauthorized;
  }

  /** Reads the ranking now and then every RefreshEvery (sign-in). */
  start() {
    this.#running = true;
    this.#card.dataset.state = "loading";
    this.#message.textContent = "Loading…";
    this.#message.hidden = false;
    this.refresh();
  }

  /** Reads the ranking now, unless a read is under way; the next one follows RefreshEvery later. */
  refresh() {
    if (this.#running && !this.#loading) {
      this.#load();
    }
  }

  /** The feed is back: a read that failed meanwhile (the server was away) is tried again now. */
  retryIfFailed() {
    if (this.#failed) {
      this.refresh();
    }
  }

  stop() {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = 0;
  }

  clear() {
    this.stop();
    this.#failed = false;
    this.#show({ state: "none", message: NONE });
  }

  #schedule(delay) {
    clearTimeout(this.#timer);
    this.#timer = this.#running ? setTimeout(() => this.refresh(), delay) : 0;
  }

  async #load() {
    this.#loading = true;
    let next = RefreshEvery;
    try {
      const report = await api.atRisk(Listed);
      if (this.#running) {
        this.#failed = false;
        this.#show({ state: "ranked", report });
      }
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        this.#onUnauthorized();
        return;
      }
      if (!this.#running) {
        return;
      }
      if (error instanceof ApiError && error.status === 503) {
        // Not an error: the history holds too few failures yet, or the first model is being trained.
        this.#failed = false;
        this.#show({ state: "no-model", message: error.problem?.detail || error.message });
        const retryAfter = Number(error.retryAfter);
        if (retryAfter > 0) {
          next = Math.min(RefreshEvery, retryAfter * 1000);
        }
      } else {
        // 404 (not built on this server) or the server away: nothing worth an alarm, as on the Lifespan panel.
        this.#failed = true;
        this.#show({ state: "none", message: NONE });
      }
    } finally {
      this.#loading = false;
      this.#schedule(next);
    }
  }

  #show({ state, report, message }) {
    this.#card.dataset.state = state;
    // Which scoring is shown: the server ranks again every 15 minutes and after each training.
    if (report?.scoredAt) {
      this.#card.dataset.scoredAt = report.scoredAt;
    } else {
      delete this.#card.dataset.scoredAt;
    }
    this.#message.textContent = message ?? "";
    this.#message.hidden = !message;
    this.#table.hidden = !report;
    this.#scope.textContent = report ? scopeText(report) : "";
    this.#model.textContent = report?.model ? modelSummary(report.model) : "";
    this.#model.hidden = !report?.model;
    // Only focus within this table is kept: the sensor table's rows carry the same ids.
    const focused = document.activeElement;
    const focusedId = this.#body.contains(focused) ? focused.closest("tr[data-sensor-id]")?.dataset.sensorId : undefined;
    const sensors = Array.isArray(report?.sensors) ? report.sensors.slice(0, Listed) : [];
    const rows = sensors.map((sensor) => this.#row(sensor));
    if (report && rows.length === 0) {
      rows.push(el("tr", { class: "empty" }, el("td", { colspan: 4, class: "muted", text: "No live sensor to rank." })));
    }
    this.#body.replaceChildren(...rows);
    if (focusedId) {
      this.#body.querySelector(`tr[data-sensor-id="${CSS.escape(focusedId)}"] button`)?.focus();
    }
  }

  #row(sensor) {
    const drivers = Array.isArray(sensor.drivers) ? sensor.drivers : [];
    return el("tr", { "data-sensor-id": sensor.id, "data-probability": sensor.failureProbability },
      el("th", { scope: "row" },
        el("button", { type: "button", class: "link", title: `Details of ${sensor.id}`, onClick: () => this.#onOpen(sensor.id), text: sensor.id })),
      el("td", { class: "num atrisk-probability", text: probability(sensor.failureProbability) }),
      el("td", { class: "num atrisk-age", title: `${fixed(sensor.ageSeconds / 86400, 1)} days`, text: duration(sensor.ageSeconds) }),
      el("td", {}, drivers.length === 0
        ? el("span", { class: "muted", text: "nothing stands out" })
        : el("ul", { class: "drivers" }, ...drivers.map((driver) =>
            el("li", { "data-driver": driver.name, title: `${driver.name} = ${driver.value}`, text: driverText(driver) })))));
  }
}

/** A failure probability (0..1) as the KPI tiles write percentages: one decimal, "12.3 %". */
export function probability(value) {
  return percent(typeof value === "number" ? value * 100 : null);
}

/** "7 days" or "36 h" for a horizon in seconds. */
export function horizonText(seconds) {
  if (!(seconds > 0)) {
    return NONE;
  }
  const days = seconds / 86400;
  return Number.isInteger(days) ? `${days} ${days === 1 ? "day" : "days"}` : `${fixed(seconds / 3600, 0)} h`;
}

function scopeText(report) {
  return `Chance of failing within ${horizonText(report.horizonSeconds)}; ranked at ${dateTime(report.scoredAt)} ` +
    `among ${count(report.liveSensors)} live sensors`;
}

/** "Model trained … on n examples (f failures); validation AUC a, by age alone b". */
export function modelSummary(model) {
  const failures = model.trainingFailures === 1 ? "1 failure" : `${count(model.trainingFailures)} failures`;
  return `Model trained ${dateTime(model.trainedAt)} on ${count(model.trainedOn)} examples (${failures}); ` +
    `validation AUC ${fixed(model.validationAuc, 2)}, by age alone ${fixed(model.ageOnlyAuc, 2)}`;
}

const share = (value) => `${fixed(value * 100, 0)} %`;
// A minus sign, not a hyphen; "+" for a rise, so the direction reads at a glance.
const signed = (value, digits) => (value < 0 ? `\u2212${fixed(-value, digits)}` : `+${fixed(value, digits)}`);

// Values: ageDays in days; silence, intervalDrift* and longestGap7d in multiples of the sensor's typical
// interval; missedShare* and lateShare7d shares 0..1; trend:<metric> in standard deviations of its baseline.
const DriverWords = new Map([
  ["ageDays", (v) => `${fixed(v, 1)} days old`],
  ["silence", (v) => `silent for ${fixed(v, 1)} intervals`],
  ["missedShare1d", (v) => `missed ${share(v)} of beats (1 d)`],
  ["missedShare7d", (v) => `missed ${share(v)} of beats (7 d)`],
  ["intervalDrift1d", (v) => `beats ${fixed(v, 1)}× the usual interval apart (1 d)`],
  ["intervalDrift7d", (v) => `beats ${fixed(v, 1)}× the usual interval apart (7 d)`],
  ["lateShare7d", (v) => `${share(v)} of beats late (7 d)`],
  ["longestGap7d", (v) => `longest gap ${fixed(v, 1)} intervals (7 d)`],
]);

/** A driver in words: "missed 35 % of beats (1 d)", "battery trend −3.1 σ"; unknown names as "name 1.23". */
export function driverText({ name, value }) {
  const words = DriverWords.get(name);
  if (words) {
    return words(value);
  }
  if (typeof name === "string" && name.startsWith("trend:")) {
    return `${name.slice("trend:".length)} trend ${Number.isFinite(value) ? signed(value, 1) : NONE} σ`;
  }
  return `${name} ${fixed(value, 2)}`;
}
