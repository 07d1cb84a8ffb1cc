// How the dashboard writes numbers and times. The KPI rules are a contract: the browser test
// (test/Sensors360.Dashboard.Tests) formats GET /api/fleet the same way and compares the tiles.
//
//   silentPercent                        one decimal, "6.3 %"
//   meanHeartbeatIntervalSeconds         two decimals, "5.02 s" (also the "recent" line)
//   meanLifespanSeconds                  whole seconds, then "42 s", "8 min 32 s", "2 h 05 min", "3 d 04 h"
//   heartbeatsPerSecond                  one decimal, "38.5/s"
//   openAlerts, sensor counts            whole numbers, no separators, "12"
//   null (no data yet)                   "—"
//
// Decimals are rounded as Number.prototype.toFixed does: the exact binary value to the nearest, an exact
// half up (6.25 → "6.3"; 2.675, stored as 2.67499…, → "2.67"). .NET's "F1" differs on exact halves, so the
// tests' copy of these rules (KpiText.cs) computes with the exact value.

export const NONE = "—";

const isNumber = (value) => typeof value === "number" && Number.isFinite(value);

export function fixed(value, digits) {
  return isNumber(value) ? value.toFixed(digits) : NONE;
}

export function percent(value) {
  return isNumber(value) ? `${value.toFixed(1)} %` : NONE;
}

export function seconds(value) {
  return isNumber(value) ? `${value.toFixed(2)} s` : NONE;
}

export function rate(value) {
  return isNumber(value) ? `${value.toFixed(1)}/s` : NONE;
}

export function count(value) {
  return isNumber(value) ? String(Math.round(value)) : NONE;
}

const pad2 = (n) => String(n).padStart(2, "0");

/** A duration, rounded to whole seconds, in its two largest units. */
export function duration(value) {
  if (!isNumber(value)) {
    return NONE;
  }
  const total = Math.round(value);
  if (total < 60) {
    return `${total} s`;
  }
  if (total < 3600) {
    return `${Math.floor(total / 60)} min ${pad2(total % 60)} s`;
  }
  if (total < 86400) {
    return `${Math.floor(total / 3600)} h ${pad2(Math.floor((total % 3600) / 60))} min`;
  }
  return `${Math.floor(total / 86400)} d ${pad2(Math.floor((total % 86400) / 3600))} h`;
}

/** The text of each KPI tile, keyed by its data-kpi attribute. */
export function kpiTexts(fleet) {
  const sensors = fleet.sensors ?? {};
  return {
    silentPercent: percent(fleet.silentPercent),
    meanHeartbeatIntervalSeconds: seconds(fleet.meanHeartbeatIntervalSeconds),
    recentMeanHeartbeatIntervalSeconds: seconds(fleet.recentMeanHeartbeatIntervalSeconds),
    medianHeartbeatIntervalSeconds: seconds(fleet.medianHeartbeatIntervalSeconds),
    p95HeartbeatIntervalSeconds: seconds(fleet.p95HeartbeatIntervalSeconds),
    meanLifespanSeconds: duration(fleet.meanLifespanSeconds),
    heartbeatsPerSecond: rate(fleet.heartbeatsPerSecond),
    openAlerts: count(fleet.openAlerts),
    sensors: count(sensors.total),
  };
}

/** A local wall-clock time, "19:45:03", for an ISO 8601 string; "—" for null. */
export function clock(iso) {
  if (!iso) {
    return NONE;
  }
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? NONE : date.toLocaleTimeString(undefined, { hour12: false });
}

/** A local date and time, "2026-11-27 19:45:03", for an ISO 8601 string; "—" for null. */
export function dateTime(iso) {
  if (!iso) {
    return NONE;
  }
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return NONE;
  }
  return `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())} ${date.toLocaleTimeString(undefined, { hour12: false })}`;
}

/** "12 s ago", "5 min ago", "3 h ago", "2 d ago" for an ISO 8601 string relative to now. */
export function ago(iso, now = Date.now()) {
  if (!iso) {
    return NONE;
  }
  const secondsAgo = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (secondsAgo < 60) {
    return `${secondsAgo} s ago`;
  }
  if (secondsAgo < 3600) {
    return `${Math.floor(secondsAgo / 60)} min ago`;
  }
  if (secondsAgo < 86400) {
    return `${Math.floor(secondsAgo / 3600)} h ago`;
  }
  return `${Math.floor(secondsAgo / 86400)} d ago`;
}
