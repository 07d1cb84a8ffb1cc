// The page's one home for drawing: every chart is a canvas drawn by hand here, on the same frame, grid and
// colours (the CSS variables of app.css), so the charts look alike and there is one place to fix drawing.
//
//   FleetChart     the live chart: heartbeats/s (left axis, solid line) and silent % (right axis, dashed line)
//                  over the last 15 minutes, from the snapshots this page has received
//   SeriesChart    a series of GET /api/sensors/{id}/series: heartbeats per bucket as bars (the timeline: an
//                  empty bucket is drawn as nothing, a visible gap), or a metric's min–max band and mean line,
//                  broken where buckets are empty
//   SurvivalChart  a Kaplan–Meier curve as a step line: the share of sensors still alive (0..1) by age in days
//
// Each chart writes its plot area (CSS pixels "left top width height") to its canvas's data-plot, and what its last
// paint showed to data-drawn ("data", or "note" for a message), so tests and tools can find what was drawn where.

export const Window = 15 * 60 * 1000;

export const niceCeiling = (value) => {
  if (!(value > 0)) {
    return 1;
  }
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * magnitude >= value) {
      return step * magnitude;
    }
  }
  return 10 * magnitude;
};

export function formatAxis(value) {
  if (Math.abs(value) >= 1000) {
    return `${+(value / 1000).toFixed(2)}k`;
  }
  return String(+value.toFixed(2));
}

/** A value range with some room, never empty, so a flat series is drawn mid-height rather than on an edge. */
function valueRange(values) {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) {
    return { low: 0, high: 1 };
  }
  let low = Math.min(...finite);
  let high = Math.max(...finite);
  if (low === high) {
    const pad = Math.abs(low) * 0.1 || 1;
    low -= pad;
    high += pad;
  } else {
    const pad = (high - low) * 0.08;
    low -= pad;
    high += pad;
  }
  return { low, high };
}

const hourMinute = (ms) => new Date(ms).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", hour12: false });

/**
 * A canvas filling its parent box at the device's pixel ratio, redrawn (at most once per animation frame) when
 * the box resizes or the colour scheme changes. Subclasses draw in `paint(g, surface)`.
 */
class CanvasChart {
  #frame = 0;
  #resize;
  #scheme = matchMedia("(prefers-color-scheme: dark)");
  #redraw = () => this.draw();

  constructor(canvas) {
    this.canvas = canvas;
    this.#resize = new ResizeObserver(this.#redraw);
    this.#resize.observe(canvas.parentElement);
    this.#scheme.addEventListener("change", this.#redraw);
  }

  /** Stops watching size and colour scheme, for charts whose canvas leaves the page (a dialog's metric charts). */
  dispose() {
    cancelAnimationFrame(this.#frame);
    this.#resize.disconnect();
    this.#scheme.removeEventListener("change", this.#redraw);
  }

  draw() {
    cancelAnimationFrame(this.#frame);
    this.#frame = requestAnimationFrame(() => this.#paint());
  }

  #paint() {
    const canvas = this.canvas;
    const box = canvas.parentElement.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) {
      return; // not shown (a closed dialog): the resize observer draws once it is
    }
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(box.width * ratio);
    canvas.height = Math.round(box.height * ratio);
    canvas.style.width = `${box.width}px`;
    canvas.style.height = `${box.height}px`;
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, box.width, box.height);
    const style = getComputedStyle(canvas);
    g.font = `12px ${style.fontFamily}`;
    this.paint(g, { width: box.width, height: box.height, color: (name) => style.getPropertyValue(name).trim() });
  }

  /**
   * The frame every chart shares: horizontal grid lines with left (and optionally right) labels, x labels
   * below; returns the plot area and its scales. `x` maps [xFrom, xTo] to the width, `y` maps [low, high] up.
   */
  frame(g, surface, { margin, low = 0, high, leftLabel = formatAxis, rightLabel, xFrom, xTo, xTicks = [] }) {
    const { left, right, top, bottom } = margin;
    const width = surface.width - left - right;
    const height = surface.height - top - bottom;
    const x = (value) => left + ((value - xFrom) / (xTo - xFrom)) * width;
    const y = (value) => top + height - ((value - low) / (high - low)) * height;
    this.canvas.dataset.plot = [left, top, width, height].map((n) => Math.round(n)).join(" ");
    g.lineWidth = 1;
    g.strokeStyle = surface.color("--grid");
    g.fillStyle = surface.color("--muted");
    g.textBaseline = "middle";
    for (let i = 0; i <= 4; i++) {
      const at = top + (height * i) / 4;
      const value = high - ((high - low) * i) / 4;
      g.beginPath();
      g.moveTo(left, Math.round(at) + 0.5);
      g.lineTo(left + width, Math.round(at) + 0.5);
      g.stroke();
      g.textAlign = "right";
      g.fillText(leftLabel(value, i), left - 6, at);
      if (rightLabel) {
        g.textAlign = "left";
        g.fillText(rightLabel(i), left + width + 6, at);
      }
    }
    g.textAlign = "center";
    g.textBaseline = "top";
    for (const tick of xTicks) {
      g.fillText(tick.text, Math.min(Math.max(x(tick.at), left + 20), left + width - 14), top + height + 6);
    }
    return { left, top, width, height, x, y };
  }

  /** A centred note in the plot area, e.g. while there is nothing to draw. */
  note(g, surface, area, text) {
    g.fillStyle = surface.color("--muted");
    g.textAlign = "center";
    g.textBaseline = "middle";
    g.fillText(text, area.left + area.width / 2, area.top + area.height / 2);
    this.canvas.dataset.drawn = "note";
  }

  /** A line through `points`, skipping to a new stroke where `y` is not finite (a gap stays a gap). */
  line(g, points, x, y, stroke, dash = []) {
    g.strokeStyle = stroke;
    g.lineWidth = 2;
    g.setLineDash(dash);
    g.beginPath();
    let drawing = false;
    for (const p of points) {
      const value = y(p);
      if (!Number.isFinite(value)) {
        drawing = false;
        continue;
      }
      if (drawing) {
        g.lineTo(x(p), value);
      } else {
        g.moveTo(x(p), value);
        drawing = true;
      }
    }
    g.stroke();
    g.setLineDash([]);
  }

  /** A filled dot, e.g. the latest value or a lone reading between gaps. */
  dot(g, cx, cy, fill, radius = 3.5) {
    g.fillStyle = fill;
    g.beginPath();
    g.arc(cx, cy, radius, 0, 2 * Math.PI);
    g.fill();
  }
}

export class FleetChart extends CanvasChart {
  #summary;
  #points = [];
  #timer = 0;

  constructor(canvas, summary) {
    super(canvas);
    this.#summary = summary;
  }

  /** Adds a snapshot's values; at most one point a second is kept. */
  add(fleet) {
    const at = Date.parse(fleet.at) || Date.now();
    const point = { at, rate: fleet.heartbeatsPerSecond ?? 0, silent: fleet.silentPercent ?? 0 };
    const last = this.#points.at(-1);
    if (last && at - last.at < 1000) {
      this.#points[this.#points.length - 1] = { ...point, at: Math.max(last.at, at) };
    } else if (!last || at >= last.at) {
      this.#points.push(point);
    }
    const oldest = Date.now() - Window - 60_000;
    while (this.#points.length > 0 && this.#points[0].at < oldest) {
      this.#points.shift();
    }
    this.#summary.textContent =
      `Latest: ${point.rate.toFixed(1)} heartbeats per second, ${point.silent.toFixed(1)} % of sensors online or silent are silent.`;
    this.draw();
  }

  start() {
    clearInterval(this.#timer);
    this.#timer = setInterval(() => this.draw(), 5000);
    this.draw();
  }

  stop() {
    clearInterval(this.#timer);
  }

  paint(g, surface) {
    const now = Date.now();
    const from = now - Window;
    const points = this.#points.filter((p) => p.at >= from - 5000);
    const rateMax = niceCeiling(Math.max(1, ...points.map((p) => p.rate)));
    const silentMax = Math.min(100, niceCeiling(Math.max(10, ...points.map((p) => p.silent))));
    const xTicks = [15, 10, 5, 0].map((minutes) => ({ at: now - minutes * 60_000, text: minutes === 0 ? "now" : `−${minutes} min` }));
    const area = this.frame(g, surface, {
      margin: { left: 44, right: 44, top: 10, bottom: 24 },
      high: rateMax,
      rightLabel: (i) => `${formatAxis(silentMax * (1 - i / 4))}%`,
      xFrom: from,
      xTo: now,
      xTicks,
    });
    if (points.length === 0) {
      this.note(g, surface, area, "Waiting for data…");
      return;
    }
    const ySilent = (v) => area.top + area.height - (v / silentMax) * area.height;
    g.save();
    g.beginPath();
    g.rect(area.left - 4, area.top - 4, area.width + 8, area.height + 8);
    g.clip();
    for (const [value, stroke, dash] of [[(p) => area.y(p.rate), "--rate", []], [(p) => ySilent(p.silent), "--silent", [6, 4]]]) {
      this.line(g, points, (p) => area.x(p.at), value, surface.color(stroke), dash);
      // The latest value as a dot, so a fresh page's few seconds of history are visible at once.
      const last = points.at(-1);
      this.dot(g, area.x(last.at), value(last), surface.color(stroke));
    }
    g.restore();
    this.canvas.dataset.drawn = "data";
  }
}

/**
 * One series answer (GET /api/sensors/{id}/series) over its [from, to). Without a metric, heartbeats per bucket
 * as bars: a bucket with count 0 gets no bar, so gaps show as empty stretches. With one, the min–max band and
 * the mean line, broken at empty buckets. `summary` (optional) gets a text version for screen readers and tests.
 */
export class SeriesChart extends CanvasChart {
  #summary;
  #series = null;
  #message = "Loading…";

  constructor(canvas, summary = null) {
    super(canvas);
    this.#summary = summary;
  }

  /** Shows a series; draws at once. */
  show(series) {
    this.#series = series;
    const points = series.points ?? [];
    const empty = points.filter((p) => p.count === 0).length;
    this.canvas.dataset.buckets = String(points.length);
    this.canvas.dataset.emptyBuckets = String(empty);
    if (this.#summary) {
      this.#summary.textContent = series.metric ? metricSummary(series) : gapSummary(series);
    }
    this.draw();
  }

  /** Shows a note instead of data (loading, an error). */
  message(text) {
    this.#series = null;
    this.#message = text;
    delete this.canvas.dataset.buckets;
    delete this.canvas.dataset.emptyBuckets;
    if (this.#summary) {
      this.#summary.textContent = text;
    }
    this.draw();
  }

  paint(g, surface) {
    const series = this.#series;
    const points = series?.points ?? [];
    const from = Date.parse(series?.from ?? "") || Date.now() - 86_400_000;
    const to = Date.parse(series?.to ?? "") || Date.now();
    const bucket = (series?.bucketSeconds ?? 1) * 1000;
    // A time label needs about 70 px; small charts get fewer of them rather than overlapping ones.
    const spans = Math.max(1, Math.min(4, Math.floor((surface.width - 56) / 70)));
    const xTicks = [...Array(spans + 1).keys()].map((i) => from + ((to - from) * i) / spans).map((at) => ({ at, text: hourMinute(at) }));
    const metric = Boolean(series?.metric);
    const range = metric
      ? valueRange(points.flatMap((p) => (p.count > 0 ? [p.min, p.max] : [])))
      : { low: 0, high: niceCeiling(Math.max(1, ...points.map((p) => p.count))) };
    const area = this.frame(g, surface, {
      margin: { left: 44, right: 12, top: 8, bottom: 22 },
      low: range.low,
      high: range.high,
      xFrom: from,
      xTo: to,
      xTicks,
    });
    if (!series) {
      this.note(g, surface, area, this.#message);
      return;
    }
    if (points.every((p) => p.count === 0)) {
      this.note(g, surface, area, metric ? "No readings in this range" : "No heartbeats in this range");
      return;
    }
    g.save();
    g.beginPath();
    g.rect(area.left, area.top - 4, area.width, area.height + 8);
    g.clip();
    const start = (p) => Date.parse(p.at);
    if (!metric) {
      // One bar per non-empty bucket, a pixel apart, so neighbouring buckets stay distinguishable.
      g.fillStyle = surface.color("--rate");
      for (const p of points.filter((q) => q.count > 0)) {
        const left = area.x(start(p));
        const right = area.x(Math.min(start(p) + bucket, to));
        const top = area.y(p.count);
        g.fillRect(left, top, Math.max(1, right - left - 1), area.top + area.height - top);
      }
    } else {
      const middle = (p) => area.x(start(p) + bucket / 2);
      g.fillStyle = surface.color("--grid");
      for (const p of points.filter((q) => q.count > 0)) {
        const left = area.x(start(p));
        const right = area.x(Math.min(start(p) + bucket, to));
        g.fillRect(left, area.y(p.max), Math.max(1, right - left), Math.max(1, area.y(p.min) - area.y(p.max)));
      }
      const stroke = surface.color("--rate");
      this.line(g, points, middle, (p) => (p.count > 0 ? area.y(p.mean) : NaN), stroke);
      // A reading with empty buckets on both sides draws no line; a dot keeps it visible.
      points.forEach((p, i) => {
        if (p.count > 0 && !(points[i - 1]?.count > 0) && !(points[i + 1]?.count > 0)) {
          this.dot(g, middle(p), area.y(p.mean), stroke, 2.5);
        }
      });
    }
    g.restore();
    this.canvas.dataset.drawn = "data";
  }
}

function gapSummary(series) {
  const points = series.points ?? [];
  const beats = points.reduce((sum, p) => sum + p.count, 0);
  // Runs of empty buckets, each one gap.
  const gaps = [];
  let run = null;
  for (const p of points) {
    if (p.count === 0) {
      run ??= { from: Date.parse(p.at), to: 0 };
      run.to = Math.min(Date.parse(p.at) + series.bucketSeconds * 1000, Date.parse(series.to));
    } else if (run) {
      gaps.push(run);
      run = null;
    }
  }
  if (run) {
    gaps.push(run);
  }
  const listed = gaps.slice(0, 5).map((gap) => `${hourMinute(gap.from)}–${hourMinute(gap.to)}`).join(", ");
  const more = gaps.length > 5 ? ` and ${gaps.length - 5} more` : "";
  return `${beats} heartbeats; ${gaps.length === 0 ? "no gaps" : `${gaps.length} ${gaps.length === 1 ? "gap" : "gaps"}: ${listed}${more}`}.`;
}

function metricSummary(series) {
  const filled = (series.points ?? []).filter((p) => p.count > 0);
  if (filled.length === 0) {
    return `${series.metric}: no readings.`;
  }
  const low = Math.min(...filled.map((p) => p.min));
  const high = Math.max(...filled.map((p) => p.max));
  const last = filled.at(-1);
  return `${series.metric}: from ${formatAxis(low)} to ${formatAxis(high)}, latest bucket mean ${formatAxis(last.mean)}.`;
}

/** The survival curve of GET /api/analytics/lifespan: `curve` points {ageSeconds, survival} as a step line. */
export class SurvivalChart extends CanvasChart {
  #curve = null;

  show(curve) {
    this.#curve = Array.isArray(curve) && curve.length > 0 ? curve : null;
    this.canvas.dataset.steps = String(this.#curve?.length ?? 0);
    this.draw();
  }

  paint(g, surface) {
    const curve = this.#curve;
    const day = 86_400;
    const lastAge = curve ? Math.max(...curve.map((p) => p.ageSeconds)) : day;
    const days = niceCeiling(Math.max(lastAge / day, 1 / 24));
    const xTicks = [0, 1, 2, 3, 4].map((i) => ({ at: (days * i) / 4, text: `${formatAxis((days * i) / 4)} d` }));
    const area = this.frame(g, surface, {
      margin: { left: 44, right: 16, top: 8, bottom: 22 },
      high: 1,
      leftLabel: (value) => `${Math.round(value * 100)}%`,
      xFrom: 0,
      xTo: days,
      xTicks,
    });
    if (!curve) {
      this.note(g, surface, area, "—");
      return;
    }
    // Kaplan–Meier is a step function: survival holds until the next failure, then drops there.
    const steps = [{ ageSeconds: 0, survival: 1 }, ...[...curve].sort((a, b) => a.ageSeconds - b.ageSeconds)];
    g.strokeStyle = surface.color("--rate");
    g.lineWidth = 2;
    g.beginPath();
    let previous = steps[0];
    g.moveTo(area.x(0), area.y(previous.survival));
    for (const p of steps.slice(1)) {
      g.lineTo(area.x(p.ageSeconds / day), area.y(previous.survival));
      g.lineTo(area.x(p.ageSeconds / day), area.y(p.survival));
      previous = p;
    }
    g.stroke();
    this.canvas.dataset.drawn = "data";
  }
}
