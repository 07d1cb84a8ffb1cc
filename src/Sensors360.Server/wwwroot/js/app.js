// The page: a login form without a session, the live dashboard with one.
//
// The dashboard keeps itself current from the feed, with no periodic polling but the At risk panel's (every
// 5 minutes: its ranking changes only when the server rescores it): snapshots drive the KPI
// tiles and the chart, and pace the Lifespan panel's reads (at most one a minute); alerts frames (on connect and
// when they change) list the open alerts; alert frames update the alert list and that sensor's status;
// sensor frames update the table's rows (sensors.js). The whole sensor list is read again when the
// fleet's composition changes (total, pending or retired sensors), at the start of each connection, since
// frames sent while the page was not connected are lost, and now and then while the table shows more
// rows than the feed can watch.

import { AlertsPanel } from "./alerts.js";
import { ApiError, api } from "./api.js";
import { AtRiskPanel } from "./atrisk.js";
import { FleetChart } from "./chart.js";
import { byId, show } from "./dom.js";
import { DashboardFeed } from "./feed.js";
import { clock, count, duration, kpiTexts } from "./format.js";
import { LifespanPanel } from "./lifespan.js";
import { OperatorsScreen, PasswordForm } from "./operators.js";
import { SensorDetail, SensorTable } from "./sensors.js";

const feed = new DashboardFeed();
const chart = new FleetChart(byId("chart"), byId("chart-summary"));
const alerts = new AlertsPanel({
  list: byId("alerts"),
  empty: byId("alerts-empty"),
  count: byId("alerts-count"),
  note: byId("alerts-note"),
  onUnauthorized: () => sessionEnded(),
  onForbidden: () => readRole(),
});
const table = new SensorTable({
  table: byId("sensors"),
  search: byId("sensor-search"),
  status: byId("sensor-status"),
  info: byId("sensors-info"),
  feed,
  onOpen: (id) => detail.open(id),
  onUnauthorized: () => sessionEnded(),
});
const detail = new SensorDetail({ dialog: byId("sensor-detail"), feed, onUnauthorized: () => sessionEnded() });
const lifespan = new LifespanPanel({ canvas: byId("lifespan-curve"), summary: byId("lifespan-summary"), onUnauthorized: () => sessionEnded() });
const atRisk = new AtRiskPanel({
  card: byId("atrisk-card"),
  table: byId("atrisk"),
  scope: byId("atrisk-scope"),
  message: byId("atrisk-message"),
  model: byId("atrisk-model"),
  onOpen: (id) => detail.open(id),
  onUnauthorized: () => sessionEnded(),
});

const operators = new OperatorsScreen({ onUnauthorized: () => sessionEnded(), onForbidden: () => readRole() });
const password = new PasswordForm({
  onUnauthorized: () => sessionEnded(),
  onChanged: () => (byId("kpis-at").textContent = "Your password was changed; your other sessions have ended."),
});

let lastComposition = null;
let active = false;
let signedInAs = null;

// ---- connection state ----

const connection = byId("connection");
let retryTicker = 0;

function showConnection() {
  const { state, retryAt } = feed;
  connection.dataset.state = state;
  const text = connection.querySelector(".connection-text");
  clearInterval(retryTicker);
  const label = () => {
    if (state === "live") return "Live";
    if (state === "connecting") return "Connecting…";
    if (state === "offline") return "Offline";
    const wait = retryAt ? Math.ceil((retryAt - Date.now()) / 1000) : 0;
    return wait > 0 ? `Reconnecting in ${wait} s…` : "Reconnecting…";
  };
  text.textContent = label();
  if (state === "reconnecting" && retryAt) {
    retryTicker = setInterval(() => (text.textContent = label()), 1000);
  }
}

feed.addEventListener("state", showConnection);
// Until the next snapshot arrives nothing says what was missed; that snapshot reloads the sensor list.
feed.addEventListener("state", () => {
  if (feed.state !== "live") {
    lastComposition = null;
  }
});
// Back after an outage: a ranking read that failed meanwhile need not wait for the next 5-minute read.
feed.addEventListener("state", () => {
  if (feed.state === "live") {
    atRisk.retryIfFailed();
  }
});
// The last close code (1001: the server went away), for people and tests looking at the page.
feed.addEventListener("closed", (event) => (connection.dataset.lastClose = String(event.detail.code)));
feed.addEventListener("unauthorized", () => sessionEnded());

// ---- feed frames ----

feed.addEventListener("snapshot", (event) => {
  const { fleet } = event.detail;
  if (fleet) {
    renderKpis(fleet);
    chart.add(fleet);
    // New sensors, first heartbeats and retirements change the list itself; status changes come as frames.
    const { total, pending, retired } = fleet.sensors ?? {};
    const composition = JSON.stringify([total, pending, retired]);
    if (composition !== lastComposition) {
      lastComposition = composition;
      table.refresh();
    }
    table.keepShownCurrent();
    lifespan.refreshIfDue();
  }
});

// The open alerts come apart from the snapshot, on connect and whenever they changed.
feed.addEventListener("alerts", (event) => {
  const { alerts: open, openAlerts } = event.detail;
  if (Array.isArray(open)) {
    alerts.replace(open, openAlerts);
  }
});

feed.addEventListener("alert", (event) => {
  const { alert } = event.detail;
  alerts.apply(alert);
  table.applyAlert(alert);
});

function renderKpis(fleet) {
  const texts = kpiTexts(fleet);
  for (const tile of document.querySelectorAll("[data-kpi]")) {
    tile.querySelector(".kpi-value").textContent = texts[tile.dataset.kpi] ?? "—";
  }
  const sensors = fleet.sensors ?? {};
  const sub = (kpi, text) => (document.querySelector(`[data-kpi="${kpi}"] .kpi-sub`).textContent = text);
  sub("silentPercent", `${count(sensors.silent)} of ${count((sensors.online ?? 0) + (sensors.silent ?? 0))} sensors online or silent`);
  sub("meanHeartbeatIntervalSeconds",
    `median ${texts.medianHeartbeatIntervalSeconds} · p95 ${texts.p95HeartbeatIntervalSeconds} · recent ${texts.recentMeanHeartbeatIntervalSeconds}`);
  const [low, high] = fleet.meanLifespanCi95 ?? [];
  sub("meanLifespanSeconds", low === undefined
    ? "expected lifespan, sensors still alive included"
    : `95%: ${duration(low)}–${duration(high)}, sensors still alive included`);
  sub("openAlerts", fleet.openAlerts > 0 ? "see the list below" : "all quiet");
  sub("sensors", `${count(sensors.online)} online · ${count(sensors.silent)} silent · ${count(sensors.pending)} pending · ${count(sensors.retired)} retired`);
  byId("kpis-at").textContent = `As of ${clock(fleet.at)}`;
}

// ---- session ----

function showView(view) {
  show(byId("login-view"), view === "login");
  show(byId("dashboard-view"), view === "dashboard");
  show(byId("session"), view === "dashboard");
  show(connection, view === "dashboard");
}

// ---- role: the page shows only what the role may do; the server refuses the rest anyway (403) ----

const Rank = { viewer: 0, operator: 1, admin: 2 };

function applyRole(operator) {
  signedInAs = operator.username;
  const rank = Rank[operator.role] ?? 0;
  document.body.dataset.role = operator.role;
  byId("session-role").textContent = `(${operator.role})`;
  alerts.canAcknowledge = rank >= Rank.operator;
  detail.canOperate = rank >= Rank.operator;
  show(byId("operators-open"), rank >= Rank.admin);
  if (rank < Rank.admin) {
    operators.close();
  }
}

/** After a 403: an admin may have changed this operator's role since sign-in. */
async function readRole() {
  try {
    applyRole(await api.me());
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 401) {
      sessionEnded();
    }
  }
}

byId("operators-open").addEventListener("click", () => operators.open());
byId("password-open").addEventListener("click", () => password.open(signedInAs ?? ""));

function signedIn(operator) {
  active = true;
  byId("session-user").textContent = operator.username;
  applyRole(operator);
  showView("dashboard");
  lastComposition = null;
  feed.start();
  chart.start();
  table.refresh();
  lifespan.refresh();
  atRisk.start();
}

function sessionEnded() {
  if (active) {
    signedOut("Your session has ended. Sign in again.");
  }
}

function signedOut(message) {
  active = false;
  feed.stop();
  chart.stop();
  table.stop();
  detail.close();
  operators.close();
  password.close();
  table.clear();
  alerts.clear();
  lifespan.clear();
  atRisk.clear();
  showView("login");
  const error = byId("login-error");
  error.textContent = message ?? "";
  error.hidden = !message;
  byId("login-password").value = "";
  byId("login-username").focus();
}

byId("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const username = byId("login-username").value.trim();
  const password = byId("login-password").value;
  const error = byId("login-error");
  if (!username || !password) {
    error.textContent = "Enter your user name and password.";
    error.hidden = false;
    return;
  }
  const submit = byId("login-submit");
  submit.disabled = true;
  error.hidden = true;
  try {
    signedIn(await api.login(username, password));
  } catch (failure) {
    error.textContent = loginError(failure);
    error.hidden = false;
  } finally {
    submit.disabled = false;
  }
});

function loginError(failure) {
  if (!(failure instanceof ApiError)) {
    return "The server cannot be reached. Try again in a moment.";
  }
  switch (failure.status) {
    case 401:
      return "Wrong user name or password.";
    case 429:
      return `Too many attempts. Try again in ${failure.retryAfter ?? "a few"} seconds.`;
    case 503:
      return "The server cannot check passwords right now. Try again in a moment.";
    default:
      return failure.message;
  }
}

byId("logout").addEventListener("click", async () => {
  try {
    await api.logout();
  } catch (failure) {
    if (!(failure instanceof ApiError && failure.status === 401)) {
      byId("kpis-at").textContent = `Logging out failed: ${failure.message}`;
      return;
    }
  }
  signedOut();
});

// ---- start ----

async function boot(attempt = 0) {
  try {
    const operator = await api.me();
    if (!active) {
      signedIn(operator);
    }
  } catch (failure) {
    if (active) {
      return;
    }
    if (failure instanceof ApiError && failure.status === 401) {
      signedOut();
      return;
    }
    showView("login");
    const error = byId("login-error");
    error.textContent = "The server cannot be reached yet; retrying…";
    error.hidden = false;
    setTimeout(() => boot(attempt + 1), Math.min(10_000, 1000 * 2 ** attempt));
  }
}

boot();
