// The HTTP API (docs/api.md) as the page uses it. The session cookie is HttpOnly: the browser sends it.

export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

/** Calls the API; resolves to the JSON body (null for 204); rejects with ApiError, or TypeError when unreachable. */
export async function request(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let json = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
  }
  if (!response.ok) {
    throw new ApiError(response.status, json, response.headers.get("Retry-After"));
  }
  return json;
}

export const api = {
  me: () => request("GET", "/api/auth/me"),
  login: (username, password) => request("POST", "/api/auth/login", { username, password }),
  logout: () => request("POST", "/api/auth/logout"),
  sensorsPage: (cursor) =>
    request("GET", `/api/sensors?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`),
  sensor: (id) => request("GET", `/api/sensors/${encodeURIComponent(id)}`),
  uptime: (id, days) => request("GET", `/api/sensors/${encodeURIComponent(id)}/uptime?days=${days}`),
  pause: (id, until) => request("POST", `/api/sensors/${encodeURIComponent(id)}/pause`, { until }),
  resume: (id) => request("POST", `/api/sensors/${encodeURIComponent(id)}/resume`),
  heartbeats: (id, limit) => request("GET", `/api/sensors/${encodeURIComponent(id)}/heartbeats?limit=${limit}`),
  /** A series over [from, to) (ISO strings) in at most `points` buckets; heartbeat counts without `metric`. */
  series: (id, { metric, from, to, points }) =>
    request("GET", `/api/sensors/${encodeURIComponent(id)}/series?${new URLSearchParams({ ...(metric ? { metric } : {}), from, to, points })}`),
  lifespan: () => request("GET", "/api/analytics/lifespan"),
  /** The `limit` sensors most at risk within the server's default horizon (the first configured one). */
  atRisk: (limit) => request("GET", `/api/analytics/at-risk?limit=${limit}`),
  acknowledge: (id) => request("POST", `/api/alerts/${encodeURIComponent(id)}/acknowledge`),
  changePassword: (current, next) => request("POST", "/api/auth/password", { current, new: next }),
  // Admins only:
  operators: () => request("GET", "/api/operators"),
  createOperator: (username, password, role) => request("POST", "/api/operators", { username, password, role }),
  changeOperator: (username, change) => request("PATCH", `/api/operators/${encodeURIComponent(username)}`, change),
  resetPassword: (username, password) => request("POST", `/api/operators/${encodeURIComponent(username)}/password`, { password }),
};

/** Every sensor, following nextCursor (keyset paging) up to `maxPages` pages. */
export async function allSensors(maxPages = 50) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < maxPages; page++) {
    const body = await api.sensorsPage(cursor);
    items.push(...body.items);
    cursor = body.nextCursor;
    if (!cursor) {
      return { items, complete: true };
    }
  }
  return { items, complete: false };
}
