// The REST API with the session: CSRF token from Django's cookie, errors as the API words them.

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

// {"detail": "..."} or {"field": ["message", ...], ...}: one readable line, the API's words.
export function errorText(data, status) {
  if (!data || typeof data !== "object") return `Request failed (${status}).`;
  const parts = [];
  for (const [field, value] of Object.entries(data)) {
    if (field === "code") continue;
    const text = Array.isArray(value) ? value.join(" ") : typeof value === "object" ? JSON.stringify(value) : String(value);
    parts.push(field === "detail" || field === "non_field_errors" ? text : `${field}: ${text}`);
  }
  return parts.join("; ") || `Request failed (${status}).`;
}

export async function api(method, url, body) {
  const options = {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  if (method !== "GET") options.headers["X-CSRFToken"] = csrfToken();
  // The page's own reads (refreshes after a push, charts) are not the user's doing: they
  // must not keep an idle session alive (common/sessions.py). Actions and page loads do.
  else options.headers["X-Background-Refresh"] = "1";
  let response;
  try {
    response = await fetch(url, options);
  } catch (error) {
    return { ok: false, status: 0, data: null, error: `Network error: ${error.message}` };
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  return {
    ok: response.ok,
    status: response.status,
    data,
    error: response.ok ? "" : errorText(data, response.status),
  };
}

// A list endpoint's rows, paginated or not.
export function rows(data) {
  if (Array.isArray(data)) return data;
  return (data && data.results) || [];
}

// Exchange work runs on a worker (the API answers 202 at once): ask `url` again every
// `interval` ms until `done(result)` holds or `timeout` ms have passed; the last answer.
export async function poll(url, done, { interval = 500, timeout = 60000 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const result = await api("GET", url);
    if (!result.ok || done(result) || Date.now() >= deadline) return result;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
