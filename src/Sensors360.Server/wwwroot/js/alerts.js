// Open alerts, all from the feed: the list from alerts frames and alert frames, and who acknowledged
// an alert from the same (an acknowledgement anywhere arrives as an alert frame) and from the answer to
// this page's own acknowledge. An acknowledgement, once seen, is kept while the alert is open: the first
// one stands, so nothing later can undo it.

import { ApiError, api } from "./api.js";
import { el } from "./dom.js";
import { clock, dateTime } from "./format.js";

/** Alerts listed at most (the feed's alerts frame carries the newest 100). */
export const MaxListed = 100;
/** Resolved alert ids kept to recognise frames that arrive after the resolution. */
const MaxRememberedResolutions = 10_000;

export class AlertsPanel {
  #list;
  #empty;
  #count;
  #note;
  #alerts = new Map();
  #total = null;
  #acknowledgements = new Map();
  #errors = new Map();
  #busy = new Set();
  #resolved = new Set();
  #canAcknowledge;
  #onUnauthorized;
  #onForbidden;

  constructor({ list, empty, count, note, onUnauthorized, onForbidden = () => {}, canAcknowledge = true }) {
    this.#list = list;
    this.#note = note;
    this.#empty = empty;
    this.#count = count;
    this.#onUnauthorized = onUnauthorized;
    this.#onForbidden = onForbidden;
    this.#canAcknowledge = canAcknowledge;
  }

  /** Whether the operator's role may acknowledge (operator, admin): a viewer sees no Acknowledge button. */
  set canAcknowledge(allowed) {
    if (allowed !== this.#canAcknowledge) {
      this.#canAcknowledge = allowed;
      this.#render();
    }
  }

  clear() {
    this.#total = null;
    this.#alerts.clear();
    this.#acknowledgements.clear();
    this.#errors.clear();
    this.#resolved.clear();
    this.#render();
  }

  /** The open alerts of an alerts frame replace the list; `total` is the fleet's count of open alerts. */
  replace(alerts, total) {
    if (total !== this.#total) {
      this.#total = total;
      this.#renderCount();
    }
    // An alerts frame sent before a resolution can arrive after its alert frame; a resolved alert never reopens.
    const next = new Map(alerts.filter((alert) => !this.#resolved.has(alert.id)).map((alert) => [alert.id, alert]));
    let changed = next.size !== this.#alerts.size || [...next.keys()].some((id) => !this.#alerts.has(id));
    this.#alerts = next;
    for (const id of this.#acknowledgements.keys()) {
      if (!next.has(id)) {
        this.#acknowledgements.delete(id); // no longer open (or no longer among the newest)
      }
    }
    for (const alert of alerts) {
      changed = this.#remember(alert) || changed;
    }
    if (changed) {
      this.#render();
    }
  }

  /** An alert frame: raised (resolvedAt null), acknowledged (acknowledgedAt set) or resolved. */
  apply(alert) {
    if (alert.resolvedAt) {
      this.#alerts.delete(alert.id);
      this.#acknowledgements.delete(alert.id);
      this.#rememberResolved(alert.id);
    } else if (this.#resolved.has(alert.id)) {
      return; // an older frame overtaken by the resolution: the server sends frames one-way, unordered
    } else {
      this.#alerts.set(alert.id, alert);
      this.#remember(alert);
    }
    this.#render();
  }

  #rememberResolved(id) {
    this.#resolved.add(id);
    if (this.#resolved.size > MaxRememberedResolutions) {
      this.#resolved.delete(this.#resolved.values().next().value); // the oldest: sets keep insertion order
    }
  }

  /** Keeps the alert's acknowledgement, if it has one not yet known; says whether it was new. */
  #remember(alert) {
    if (!alert.acknowledgedBy || this.#acknowledgements.has(alert.id)) {
      return false;
    }
    this.#acknowledgements.set(alert.id, { by: alert.acknowledgedBy, at: alert.acknowledgedAt });
    return true;
  }

  async #acknowledge(id) {
    this.#busy.add(id);
    this.#errors.delete(id);
    this.#render();
    try {
      const alert = await api.acknowledge(id);
      this.#remember(alert);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        this.#onUnauthorized();
        return;
      }
      if (error instanceof ApiError && error.status === 403) {
        // The role changed meanwhile: the page reads it again and hides what it no longer allows.
        this.#onForbidden();
      }
      if (error instanceof ApiError && error.status === 404) {
        this.#alerts.delete(id);
      } else {
        this.#errors.set(id, `Could not acknowledge: ${error.message}`);
      }
    } finally {
      this.#busy.delete(id);
      this.#render();
    }
  }

  #render() {
    const focusedId = document.activeElement?.closest?.("[data-alert-id]")?.dataset.alertId;
    const alerts = [...this.#alerts.values()].sort((a, b) => b.id - a.id).slice(0, MaxListed);
    this.#renderCount();
    this.#empty.hidden = alerts.length > 0;
    this.#list.replaceChildren(...alerts.map((alert) => this.#item(alert)));
    if (focusedId) {
      this.#list.querySelector(`[data-alert-id="${CSS.escape(focusedId)}"] button`)?.focus();
    }
  }

  #renderCount() {
    const shown = Math.min(this.#alerts.size, MaxListed);
    const total = Math.max(this.#total ?? shown, shown);
    this.#count.textContent = String(total);
    this.#note.textContent = total > shown ? `The newest ${shown} of ${total} are listed.` : "";
    this.#note.hidden = total <= shown;
  }

  #item(alert) {
    const acknowledgement = this.#acknowledgements.get(alert.id);
    const error = this.#errors.get(alert.id);
    const action = acknowledgement
      ? el("p", { class: "acknowledged", "data-acknowledged-by": acknowledgement.by },
          `Acknowledged by ${acknowledgement.by} at ${clock(acknowledgement.at)}`)
      : !this.#canAcknowledge
      ? null
      : el("button", {
          type: "button",
          class: "button-small",
          disabled: this.#busy.has(alert.id),
          "aria-label": `Acknowledge the alert for sensor ${alert.sensorId}`,
          onClick: () => this.#acknowledge(alert.id),
          text: this.#busy.has(alert.id) ? "Acknowledging…" : "Acknowledge",
        });
    // A sensor that never reported failed at installation, not in service: said in words, with its silence counted
    // from provisioning.
    const neverReported = alert.kind === "never-reported";
    const since = neverReported
      ? `no heartbeat since it was provisioned; silent since ${dateTime(alert.silentSince)}`
      : `silent since ${dateTime(alert.silentSince)}`;
    return el("li", { class: `alert-item${acknowledgement ? " is-acknowledged" : ""}`, "data-alert-id": alert.id, "data-sensor-id": alert.sensorId },
      el("div", { class: "alert-main" },
        el("p", { class: "alert-title" },
          el("span", { class: "badge status-silent alert-kind", "data-kind": alert.kind, text: neverReported ? "never reported" : alert.kind }),
          el("strong", { class: "alert-sensor", text: alert.sensorId })),
        el("p", { class: "muted alert-time", title: alert.silentSince, text: since })),
      action,
      error ? el("p", { class: "form-error", role: "alert", text: error }) : null);
  }
}
