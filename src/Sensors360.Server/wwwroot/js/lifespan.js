// The Lifespan panel: the fleet's Kaplan–Meier survival curve and a one-line summary, from
// GET /api/analytics/lifespan. Read at sign-in and then, riding on the snapshots' cadence (app.js calls
// `refreshIfDue` per snapshot), at most every RefreshGap: the estimate moves only as sensors fail or retire.
// Where the server has no such route yet (404) or cannot answer, the panel shows "—" and stays quiet.

import { ApiError, api } from "./api.js";
import { SurvivalChart } from "./chart.js";
import { NONE, duration } from "./format.js";

export const RefreshGap = 60_000;

export class LifespanPanel {
  #chart;
  #summary;
  #onUnauthorized;
  #loadedAt = -Infinity;
  #loading = false;

  constructor({ canvas, summary, onUnauthorized }) {
    this.#chart = new SurvivalChart(canvas);
    this.#summary = summary;
    this.#onUnauthorized = onUnauthorized;
  }

  /** Reads the estimate now (sign-in). */
  refresh() {
    this.#loadedAt = -Infinity;
    this.refreshIfDue();
  }

  /** Reads the estimate if the last read is at least RefreshGap old and none is under way. */
  refreshIfDue() {
    if (this.#loading || Date.now() - this.#loadedAt < RefreshGap) {
      return;
    }
    this.#load();
  }

  clear() {
    this.#loadedAt = -Infinity;
    this.#show(null);
  }

  async #load() {
    this.#loading = true;
    this.#loadedAt = Date.now();
    try {
      this.#show(await api.lifespan());
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        this.#onUnauthorized();
        return;
      }
      // 404 (not built on this server) or any other failure: nothing to say, and nothing worth an alarm.
      this.#show(null);
    } finally {
      this.#loading = false;
    }
  }

  #show(estimate) {
    this.#chart.show(estimate?.curve ?? null);
    this.#summary.textContent = estimate ? lifespanSummary(estimate) : NONE;
  }
}

/** "Mean lifespan X (95%: lo–hi), median Y, from f failures among n sensors; c still alive or decommissioned". */
export function lifespanSummary(estimate) {
  const [low, high] = Array.isArray(estimate.meanCi95) ? estimate.meanCi95 : [null, null];
  const interval = low === null && high === null ? "" : ` (95%: ${duration(low)}–${duration(high)})`;
  const failures = estimate.failed === 1 ? "1 failure" : `${estimate.failed ?? NONE} failures`;
  const sensors = estimate.sensors === 1 ? "1 sensor" : `${estimate.sensors ?? NONE} sensors`;
  return `Mean lifespan ${duration(estimate.meanSeconds)}${interval}, median ${duration(estimate.medianSeconds)}, ` +
    `from ${failures} among ${sensors}; ${estimate.censored ?? NONE} still alive or decommissioned`;
}
