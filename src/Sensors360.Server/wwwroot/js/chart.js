// The live chart: heartbeats/s (left axis, solid line) and silent % (right axis, dashed line) over the
// last 15 minutes, drawn by hand on a canvas from the snapshots this page has received.

export const Window = 15 * 60 * 1000;

const niceCeiling = (value) => {
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

export class FleetChart {
  #canvas;
  #summary;
  #points = [];
  #timer = 0;
  #frame = 0;

  constructor(canvas, summary) {
    this.#canvas = canvas;
    this.#summary = summary;
    new ResizeObserver(() => this.draw()).observe(canvas.parentElement);
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => this.draw());
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
      `Latest: ${point.rate.toFixed(1)} heartbeats per second, ${point.silent.toFixed(1)} % of reporting sensors silent.`;
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

  draw() {
    cancelAnimationFrame(this.#frame);
    this.#frame = requestAnimationFrame(() => this.#paint());
  }

  #paint() {
    const canvas = this.#canvas;
    const box = canvas.parentElement.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) {
      return;
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
    const color = (name) => style.getPropertyValue(name).trim();
    const font = `12px ${style.fontFamily}`;
    const now = Date.now();
    const from = now - Window;
    const points = this.#points.filter((p) => p.at >= from - 5000);

    const left = 44;
    const right = 44;
    const top = 10;
    const bottom = 24;
    const width = box.width - left - right;
    const height = box.height - top - bottom;
    const rateMax = niceCeiling(Math.max(1, ...points.map((p) => p.rate)));
    const silentMax = Math.min(100, niceCeiling(Math.max(10, ...points.map((p) => p.silent))));
    const x = (t) => left + ((t - from) / Window) * width;
    const yRate = (v) => top + height - (v / rateMax) * height;
    const ySilent = (v) => top + height - (v / silentMax) * height;

    g.font = font;
    g.lineWidth = 1;
    g.strokeStyle = color("--grid");
    g.fillStyle = color("--muted");
    g.textBaseline = "middle";
    for (let i = 0; i <= 4; i++) {
      const y = top + (height * i) / 4;
      g.beginPath();
      g.moveTo(left, Math.round(y) + 0.5);
      g.lineTo(left + width, Math.round(y) + 0.5);
      g.stroke();
      g.textAlign = "right";
      g.fillText(formatAxis(rateMax * (1 - i / 4)), left - 6, y);
      g.textAlign = "left";
      g.fillText(`${formatAxis(silentMax * (1 - i / 4))}%`, left + width + 6, y);
    }
    g.textAlign = "center";
    g.textBaseline = "top";
    for (let minutes = 15; minutes >= 0; minutes -= 5) {
      const t = now - minutes * 60_000;
      g.fillText(minutes === 0 ? "now" : `−${minutes} min`, Math.min(Math.max(x(t), left + 20), left + width - 14), top + height + 6);
    }

    if (points.length === 0) {
      g.textBaseline = "middle";
      g.fillText("Waiting for data…", left + width / 2, top + height / 2);
      return;
    }
    g.save();
    g.beginPath();
    g.rect(left - 4, top - 4, width + 8, height + 8);
    g.clip();
    this.#line(g, points, x, (p) => yRate(p.rate), color("--rate"), []);
    this.#line(g, points, x, (p) => ySilent(p.silent), color("--silent"), [6, 4]);
    g.restore();
  }

  #line(g, points, x, y, stroke, dash) {
    g.strokeStyle = stroke;
    g.lineWidth = 2;
    g.setLineDash(dash);
    g.beginPath();
    points.forEach((p, i) => (i === 0 ? g.moveTo(x(p.at), y(p)) : g.lineTo(x(p.at), y(p))));
    g.stroke();
    g.setLineDash([]);
    // The latest value as a dot, so a fresh page's few seconds of history are visible at once.
    const last = points.at(-1);
    g.fillStyle = stroke;
    g.beginPath();
    g.arc(x(last.at), y(last), 3.5, 0, 2 * Math.PI);
    g.fill();
  }
}

function formatAxis(value) {
  if (value >= 1000) {
    return `${+(value / 1000).toFixed(2)}k`;
  }
  return String(+value.toFixed(2));
}
