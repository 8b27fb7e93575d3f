// Charts with TradingView's lightweight-charts (static/vendor/lightweight-charts/, a global
// `LightweightCharts`). Prices and equity are converted to numbers here for drawing only:
// no arithmetic on money happens in the browser.

import { api } from "./api.js";
import { show } from "./format.js";

const TIMEFRAME_SECONDS = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400 };

function library() {
  return window.LightweightCharts;
}

function baseOptions(element) {
  return {
    autoSize: true,
    height: element.clientHeight || 300,
    layout: { background: { color: "transparent" }, textColor: "#c9d1d9" },
    grid: { vertLines: { color: "#21262d" }, horzLines: { color: "#21262d" } },
    timeScale: { timeVisible: true, secondsVisible: false },
    rightPriceScale: { borderColor: "#30363d" },
  };
}

function empty(element, text) {
  element.dataset.state = "empty";
  element.textContent = text;
}

export class EquityChart {
  constructor(element) {
    this.element = element;
    this.chart = null;
  }

  async load() {
    const { ok, data, error } = await api("GET", "/api/equity/");
    if (!ok) return empty(this.element, error);
    const points = data.points.map((p) => ({
      time: Math.floor(Date.parse(p.time) / 1000),
      value: Number(p.equity),
    }));
    // lightweight-charts wants strictly increasing times.
    const unique = points.filter((p, i) => i === 0 || p.time > points[i - 1].time);
    if (!unique.length) return empty(this.element, this.element.dataset.empty || "No data.");
    const lib = library();
    if (!this.chart) {
      this.element.textContent = "";
      this.chart = lib.createChart(this.element, baseOptions(this.element));
      this.series = this.chart.addSeries(lib.AreaSeries, {
        lineColor: "#58a6ff",
        topColor: "rgba(88,166,255,0.35)",
        bottomColor: "rgba(88,166,255,0.02)",
      });
    }
    this.series.setData(unique);
    this.chart.timeScale().fitContent();
    this.element.dataset.state = "ready";
  }
}

// Candles come from a cache a worker fills: while it fetches them (`refreshing`; 202 when
// there are none yet) the chart asks again, for up to this long.
const CANDLES_WAIT_MS = 30000;

export class PriceChart {
  constructor(element) {
    this.element = element;
    this.account = element.dataset.account;
    this.symbol = element.dataset.symbol;
    this.timeframe = "1m";
    this.highlight = element.dataset.highlight || "";
    this.chart = null;
    this.again = null;
    this.waitingSince = null;
  }

  // Ask again soon while a worker fetches candles, unless it has taken too long.
  retry(status) {
    clearTimeout(this.again);
    this.waitingSince ??= Date.now();
    if (Date.now() - this.waitingSince > CANDLES_WAIT_MS) {
      this.waitingSince = null;
      return false;
    }
    this.again = setTimeout(() => this.load(), status === 202 ? 1000 : 1500);
    return true;
  }

  async load() {
    clearTimeout(this.again);
    if (!this.account) return empty(this.element, "No account to chart.");
    const query = new URLSearchParams({
      account: this.account,
      symbol: this.symbol,
      timeframe: this.timeframe,
    });
    const { ok, status, data, error } = await api("GET", `/api/chart/?${query}`);
    if (!ok) return empty(this.element, error);
    if (status === 202) {
      if (this.retry(status)) {
        if (!this.chart) this.element.dataset.state = "loading";
        if (!this.chart) this.element.textContent = `Loading candles for ${this.symbol}...`;
        return;
      }
      return empty(this.element, `The exchange has not sent candles for ${this.symbol} yet.`);
    }
    if (data.refreshing) this.retry(status);
    else this.waitingSince = null;
    if (!data.candles.length) return empty(this.element, `No candles for ${this.symbol}.`);
    const lib = library();
    if (!this.chart) {
      this.element.textContent = "";
      this.chart = lib.createChart(this.element, baseOptions(this.element));
      this.series = this.chart.addSeries(lib.CandlestickSeries, {
        upColor: "#3fb950",
        downColor: "#f85149",
        wickUpColor: "#3fb950",
        wickDownColor: "#f85149",
        borderVisible: false,
      });
      this.markers = lib.createSeriesMarkers(this.series, []);
    }
    this.series.setData(
      data.candles.map((c) => ({
        time: Math.floor(c.time / 1000),
        open: Number(c.open),
        high: Number(c.high),
        low: Number(c.low),
        close: Number(c.close),
      })),
    );
    const bucket = TIMEFRAME_SECONDS[this.timeframe];
    const first = Math.floor(data.candles[0].time / 1000);
    // Entries and exits: every fill of this account on the symbol, on its candle.
    const markers = data.fills
      .map((f) => {
        const time = Math.floor(Date.parse(f.exchange_ts || f.created_at) / 1000);
        const buy = f.side === "buy";
        const mine = this.highlight && String(f.order) === this.highlight;
        return {
          time: time - (time % bucket),
          position: buy ? "belowBar" : "aboveBar",
          shape: buy ? "arrowUp" : "arrowDown",
          color: mine ? "#d29922" : buy ? "#3fb950" : "#f85149",
          text: `${buy ? "B" : "S"} ${show(f.amount)}`,
        };
      })
      .filter((m) => m.time >= first)
      .sort((a, b) => a.time - b.time);
    this.markers.setMarkers(markers);
    this.chart.timeScale().fitContent();
    this.element.dataset.state = "ready";
    this.element.dataset.markers = String(markers.length);
  }

  show({ account, symbol, timeframe }) {
    this.waitingSince = null;
    this.account = account;
    this.symbol = symbol;
    this.timeframe = timeframe || this.timeframe;
    return this.load();
  }
}
