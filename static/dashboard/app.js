// The dashboard in the browser: pages arrive rendered by the server; this patches them from
// websocket events, re-syncs from the API after a reconnect, and sends actions to the API.

import { api, poll, rows } from "./api.js";
import { EquityChart, PriceChart } from "./charts.js";
import { connectionState, show } from "./format.js";
import { Live } from "./live.js";
import { MarketPage } from "./market.js";
import { fillElement, LiveTable } from "./tables.js";

const pageData = JSON.parse(document.getElementById("page-data").textContent);
const context = {
  page: pageData.page,
  labels: new Map(pageData.accounts.map((a) => [a.id, a.label])),
  openStatuses: pageData.openStatuses,
  filters: pageData.filters || {},
};

const tables = [...document.querySelectorAll("table.live")].map((t) => new LiveTable(t, context));
const tablesOf = (kind) => tables.filter((t) => t.kind === kind);
const charts = {};

function message(target, text, ok) {
  const element = target.matches?.("[data-message]") ? target : target.querySelector("[data-message]");
  if (!element) return;
  element.textContent = text;
  element.dataset.state = ok ? "ok" : "error";
}

function debounce(fn, ms) {
  let timer;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

// --- Patching from events ---------------------------------------------------------------

// A venue's prices were not cached: a worker fetches them; ask again until they are in.
let pricesTries = 0;

async function refreshPortfolio() {
  const cards = document.getElementById("portfolio");
  if (!cards) return;
  const { ok, data } = await api("GET", "/api/portfolio/");
  if (!ok) return;
  cards.dataset.pricesPending = String(Boolean(data.prices_pending));
  if (data.prices_pending && pricesTries++ < 30) setTimeout(refreshPortfolio, 1000);
  else if (!data.prices_pending) pricesTries = 0;
  for (const element of cards.querySelectorAll("[data-p]")) {
    element.textContent = show(data[element.dataset.p]);
  }
  const exposure = document.querySelector("#exposure tbody");
  if (exposure) {
    const entries = Object.entries(data.exposure).sort(([a], [b]) => a.localeCompare(b));
    exposure.replaceChildren(
      ...(entries.length ? entries : [[null, null]]).map(([symbol, value]) => {
        const row = document.createElement("tr");
        if (symbol === null) {
          row.className = "empty";
          row.innerHTML = '<td colspan="2">No exposure.</td>';
          return row;
        }
        const name = document.createElement("td");
        name.textContent = symbol;
        const amount = document.createElement("td");
        amount.className = "num";
        amount.textContent = show(value);
        row.append(name, amount);
        return row;
      }),
    );
  }
}
const portfolioSoon = debounce(refreshPortfolio, 300);
const priceChartSoon = debounce(() => charts.price?.load(), 500);

function setKill(accountId, on, payload = {}) {
  for (const row of document.querySelectorAll(`#accounts-table tr[data-id="${accountId}"], #risk-table tr[data-id="${accountId}"]`)) {
    const badge = row.querySelector("[data-kill]");
    badge.dataset.kill = on ? "on" : "off";
    badge.textContent = on ? "ON" : "off";
    const patch = {};
    if ("reason" in payload) patch.kill_reason = payload.reason;
    if ("breaker" in payload) patch.breaker = payload.breaker || "closed";
    if ("breaker_reason" in payload) patch.breaker_reason = payload.breaker_reason;
    fillElement(row, patch, context);
  }
}

const orderDetail = document.getElementById("order");

function addTimeline(items) {
  const list = document.getElementById("timeline");
  if (!list) return;
  for (const item of items) {
    if (list.querySelector(`[data-key="${item.key}"]`)) continue;
    const li = document.createElement("li");
    li.dataset.key = item.key;
    li.dataset.time = item.time;
    li.className = `kind-${item.kind}`;
    const time = document.createElement("time");
    time.textContent = show(item.time);
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = item.kind;
    const title = document.createElement("strong");
    title.textContent = item.title;
    const detail = document.createElement("span");
    detail.className = "detail";
    detail.textContent = item.detail;
    li.append(time, " ", badge, " ", title, " ", detail);
    const after = [...list.children].find((other) => Date.parse(other.dataset.time) > Date.parse(item.time));
    list.insertBefore(li, after || null);
  }
}

// Same wording as dashboard.views._timeline.
function eventItem(e) {
  const parts = [];
  if (e.old_status !== e.new_status && e.new_status) parts.push(`${e.old_status || "-"} -> ${e.new_status}`);
  if (e.new_filled !== null && e.old_filled !== e.new_filled) parts.push(`filled ${show(e.new_filled)}`);
  if (e.reason) parts.push(e.reason);
  parts.push(`by ${e.actor}`);
  return { key: `event-${e.id}`, time: e.created_at, kind: "event", title: e.type, detail: parts.join(" · ") };
}

function fillItem(f) {
  return {
    key: `fill-${f.id}`,
    time: f.created_at,
    kind: "fill",
    title: `fill ${f.side} ${show(f.amount)} @ ${show(f.price)}`,
    detail: `fee ${show(f.fee)} ${f.fee_asset} · trade ${f.exchange_trade_id}`,
  };
}

async function refreshOrderDetail() {
  const { ok, data } = await api("GET", `/api/orders/${orderDetail.dataset.id}/`);
  if (!ok) return;
  fillElement(orderDetail, data, context);
  addTimeline([...data.events.map(eventItem), ...data.fills.map(fillItem)]);
}
const orderDetailSoon = debounce(refreshOrderDetail, 100);

function onEvent(event, payload) {
  document.body.dataset.lastEvent = event;
  switch (event) {
    case "order.updated":
      for (const table of tablesOf("order")) table.upsert(payload);
      if (orderDetail && String(payload.id) === orderDetail.dataset.id) {
        fillElement(orderDetail, payload, context);
        orderDetailSoon();
      }
      break;
    case "fill.created":
      for (const table of tablesOf("fill")) table.upsert(payload);
      if (orderDetail && String(payload.order) === orderDetail.dataset.id) {
        addTimeline([fillItem(payload)]);
        orderDetailSoon();
      }
      if (charts.price && String(payload.account) === String(charts.price.account) && payload.symbol === charts.price.symbol) {
        priceChartSoon();
      }
      portfolioSoon();
      break;
    case "position.updated":
      for (const table of tablesOf("position")) table.upsert(payload);
      portfolioSoon();
      break;
    case "balance.updated":
      portfolioSoon();
      break;
    case "signal.updated":
      for (const table of tablesOf("signal")) table.upsert(payload);
      break;
    case "risk.updated":
      if (payload.account) setKill(payload.account, payload.kill_switch, payload);
      break;
    default:
      break;
  }
}

// --- Re-sync after a reconnect -----------------------------------------------------------

function sourceUrl(table) {
  if ("filtered" in table.table.dataset) {
    return `/api/orders/?${new URLSearchParams(context.filters)}`;
  }
  const source = table.table.dataset.source;
  if (!source) return null;
  return source.replace("status=open-statuses", `status=${context.openStatuses.join(",")}`);
}

async function resync() {
  const work = tables.map(async (table) => {
    const url = sourceUrl(table);
    if (url) {
      const { ok, data } = await api("GET", url);
      if (!ok) return;
      if ("filtered" in table.table.dataset) [...rows(data)].reverse().forEach((p) => table.upsert(p));
      else table.replaceAll(rows(data));
    } else if (table.kind === "fill") {
      const { ok, data } = await api("GET", `/api/orders/fills/?limit=${table.limit || 20}`);
      if (ok) [...rows(data)].reverse().forEach((p) => table.upsert(p));
    }
  });
  if (document.getElementById("portfolio")) work.push(refreshPortfolio());
  if (orderDetail) work.push(refreshOrderDetail());
  if (document.querySelector("#accounts-table, #risk-table")) {
    work.push(
      api("GET", "/api/risk/state/").then(({ ok, data }) => {
        if (!ok) return;
        const on = new Map(data.accounts.map((s) => [s.account, s]));
        for (const id of context.labels.keys()) {
          const state = on.get(id);
          setKill(id, Boolean(state?.kill_switch), state ? { reason: state.kill_reason, breaker: state.breaker, breaker_reason: state.breaker_reason } : {});
        }
      }),
      api("GET", "/api/accounts/").then(({ ok, data }) => {
        if (!ok) return;
        for (const account of rows(data)) {
          const row = document.querySelector(`#accounts-table tr[data-id="${account.id}"]`);
          if (row) fillElement(row, { ...account, connection: connectionState(account) }, context);
        }
      }),
    );
  }
  Object.values(charts).forEach((chart) => work.push(chart.load()));
  await Promise.all(work);
  document.body.dataset.resynced = String(Number(document.body.dataset.resynced || 0) + 1);
}

// --- Actions -----------------------------------------------------------------------------

function formBody(form) {
  const body = {};
  for (const [name, value] of new FormData(form).entries()) {
    if (value !== "") body[name] = value;
  }
  return body;
}

// The connection test runs on a worker: ask for it, then read it back until it is done.
// {ok, data: the test's result, error}.
async function connectionTest(id) {
  const asked = await api("POST", `/api/accounts/${id}/test/`);
  if (!asked.ok) return asked;
  const tested = asked.data.status === "done" ? asked : await poll(`/api/accounts/${id}/test/`, (r) => r.data.status === "done");
  if (!tested.ok) return tested;
  if (tested.data.status !== "done") return { ok: false, data: null, error: "The connection test has not finished yet: see the account's last sync and error in a moment." };
  if (!tested.data.result) return { ok: false, data: null, error: "The connection test broke off: see the account's last error." };
  return { ok: true, data: tested.data.result, error: "" };
}

function showConnection(id, result) {
  const row = document.querySelector(`#accounts-table tr[data-id="${id}"]`);
  if (!row) return;
  const patch = { connection: result.ok ? "synced" : "error", last_error: result.ok ? "" : result.message || result.error };
  if (result.ok) patch.last_sync_at = result.checked_at;
  fillElement(row, patch, context);
}

async function busy(button, work) {
  if (button) button.disabled = true;
  try {
    return await work();
  } finally {
    if (button) button.disabled = false;
  }
}

document.getElementById("order-form")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const body = formBody(form);
  body.account = Number(body.account);
  const result = await busy(form.querySelector("button[type=submit]"), () => api("POST", "/api/orders/", body));
  if (result.ok) {
    message(form, `Order ${result.data.id} accepted: ${result.data.status}.`, true);
    for (const table of tablesOf("order")) table.upsert(result.data);
  } else {
    message(form, result.error, false);
  }
});

document.getElementById("cancel-all-form")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const result = await busy(form.querySelector("button"), () =>
    api("POST", "/api/orders/cancel-all/", { account: Number(new FormData(form).get("account")) }),
  );
  message(form, result.ok ? `Cancel requested for ${result.data.canceled} order(s).` : result.error, result.ok);
});

document.getElementById("account-form")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const body = formBody(form);
  // Trading turns on only after the connection test has checked the key (it must not
  // be able to withdraw): created read-only, switched on below once the test passed.
  const wantsTrading = form.elements.can_trade.checked;
  delete body.can_trade;
  await busy(form.querySelector("button[type=submit]"), async () => {
    const created = await api("POST", "/api/accounts/", body);
    if (!created.ok) return message(form, created.error, false);
    // The keys leave the page as soon as they are stored: never shown back.
    for (const name of ["api_key", "api_secret", "api_passphrase"]) form.elements[name].value = "";
    message(form, `Account ${created.data.label} added; testing the connection...`, true);
    const tested = await connectionTest(created.data.id);
    const text = tested.ok
      ? tested.data.ok
        ? `Account ${created.data.label} added: connected (${tested.data.markets} markets).`
        : `Account ${created.data.label} added, but the connection failed: ${tested.data.message || tested.data.error}`
      : tested.error;
    let account = created.data;
    if (wantsTrading && tested.ok && tested.data.ok) {
      const enabled = await api("PATCH", `/api/accounts/${account.id}/`, { can_trade: true });
      if (enabled.ok) account = enabled.data;
      else return message(form, enabled.error, false);
    }
    message(form, text, tested.ok && tested.data.ok);
    addAccountRow({ ...account, connection: tested.ok && tested.data.ok ? "synced" : "error" });
    context.labels.set(created.data.id, created.data.label);
    live.reconnect(); // join the new account's group
  });
});

function addAccountRow(account) {
  const body = document.querySelector("#accounts-table tbody");
  body.querySelector("tr.empty")?.remove();
  const row = document.createElement("tr");
  row.dataset.id = account.id;
  const cells = [
    account.id,
    account.label,
    `${account.exchange_id} ${account.market_type} (${account.mode})`,
    show(account.masked_key),
    account.can_trade ? "yes" : "no",
    account.connection,
    show(account.last_sync_at),
    "off",
  ];
  for (const value of cells) {
    const cell = document.createElement("td");
    cell.textContent = String(value);
    row.append(cell);
  }
  body.append(row);
}

// Inline confirmation for the kill switch and breaker resets (works on a phone too).
const confirmBox = document.getElementById("confirm");
let pending = null;

function ask(question, { panic }, action) {
  confirmBox.hidden = false;
  confirmBox.querySelector("[data-question]").textContent = question;
  confirmBox.querySelector("[data-panic-row]").hidden = !panic;
  document.getElementById("confirm-panic").checked = false;
  document.getElementById("confirm-reason").value = "";
  pending = action;
  document.getElementById("confirm-reason").focus();
}

document.getElementById("confirm-no")?.addEventListener("click", () => {
  confirmBox.hidden = true;
  pending = null;
});
document.getElementById("confirm-yes")?.addEventListener("click", async (event) => {
  if (!pending) return;
  const reason = document.getElementById("confirm-reason").value;
  const panic = document.getElementById("confirm-panic").checked;
  const result = await busy(event.currentTarget, () => pending(reason, panic));
  message(document.getElementById("risk-message"), result.ok ? "Done." : result.error, result.ok);
  if (result.ok) {
    confirmBox.hidden = true;
    pending = null;
  }
});

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const id = button.dataset.id || button.closest("tr[data-id]")?.dataset.id;
  const action = button.dataset.action;
  const label = context.labels.get(Number(id));
  if (action === "cancel-order") {
    const result = await busy(button, () => api("POST", `/api/orders/${id}/cancel/`));
    const target = document.querySelector("[data-message]") || document.body;
    if (result.ok) {
      for (const table of tablesOf("order")) table.upsert(result.data);
      if (orderDetail) fillElement(orderDetail, result.data, context);
    }
    message(target, result.ok ? `Cancel of order ${id} requested.` : result.error, result.ok);
  } else if (action === "close-position") {
    const result = await busy(button, () => api("POST", `/api/positions/${id}/close/`));
    message(document.getElementById("positions-message") || document.body, result.ok ? `Close order ${result.data.id} sent.` : result.error, result.ok);
  } else if (action === "test-account") {
    const target = document.getElementById("accounts-message");
    message(target, `${label}: testing the connection...`, true);
    const result = await busy(button, () => connectionTest(id));
    const text = result.ok
      ? result.data.ok
        ? `${label}: connected (${result.data.markets} markets).`
        : `${label}: ${result.data.message || result.data.error}`
      : `${label}: ${result.error}`;
    if (result.ok) showConnection(id, result.data);
    message(target, text, result.ok && result.data.ok);
  } else if (action === "kill-on") {
    ask(`Switch the kill switch ON for ${label}? No new order will be accepted or sent.`, { panic: true }, (reason, panic) =>
      api("POST", "/api/risk/kill-switch/", { account: Number(id), on: true, reason, panic }),
    );
  } else if (action === "kill-off") {
    ask(`Switch the kill switch OFF for ${label}? Orders will be accepted again.`, { panic: false }, (reason) =>
      api("POST", "/api/risk/kill-switch/", { account: Number(id), on: false, reason, panic: false }),
    );
  } else if (action === "breaker-reset") {
    ask(`Reset the circuit breaker of ${label}? Give a reason.`, { panic: false }, (reason) =>
      api("POST", "/api/risk/breakers/reset/", { account: Number(id), reason }),
    );
  }
});

// --- Charts ------------------------------------------------------------------------------

if (window.LightweightCharts) {
  const equity = document.getElementById("equity-chart");
  if (equity) charts.equity = new EquityChart(equity);
  const price = document.getElementById("price-chart");
  if (price) charts.price = new PriceChart(price);
  Object.values(charts).forEach((chart) => chart.load());
}
document.getElementById("chart-form")?.addEventListener("submit", (event) => {
  event.preventDefault();
  const values = Object.fromEntries(new FormData(event.currentTarget).entries());
  charts.price?.show(values);
});

// --- Go live -----------------------------------------------------------------------------

if (pageData.pricesPending) setTimeout(refreshPortfolio, 1000);

const market = pageData.market && window.LightweightCharts ? new MarketPage(pageData.market, null) : null;
const live = new Live({
  indicator: document.getElementById("conn"),
  onEvent: (event, payload) =>
    String(event).startsWith("market.") ? market?.onEvent(event, payload) : onEvent(event, payload),
  onResync: () => {
    resync();
    market?.load();
  },
  onOpen: () => market?.watch(),
});
if (market) {
  market.live = live;
  market.start();
  for (const button of document.querySelectorAll("[data-timeframe]")) {
    button.addEventListener("click", () => {
      const url = new URL(location.href);
      url.searchParams.set("account", String(market.account));
      url.searchParams.set("symbol", market.symbol);
      url.searchParams.set("timeframe", button.dataset.timeframe);
      location.assign(url);
    });
  }
}
live.start();
window.dashboard = { live, resync };
