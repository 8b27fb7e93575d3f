// The market page: subscribes to a symbol's ticker, candles and book, draws stored candles
// and patches the newest from the socket. Prices become numbers only to draw the chart;
// every figure shown is the API's decimal string.

import { api } from "./api.js";
import { show } from "./format.js";

const SECONDS = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400 };
const HISTORY = 500; // candles drawn
const INTERVAL_MS = 250;
const DEPTH = 10;

function bar(c) {
  return {
    time: Math.floor((typeof c.open_time === "number" ? c.open_time : Date.parse(c.open_time)) / 1000),
    open: Number(c.open),
    high: Number(c.high),
    low: Number(c.low),
    close: Number(c.close),
  };
}

export class MarketPage {
  constructor(market, live) {
    this.account = market.account;
    this.symbol = market.symbol;
    this.timeframe = market.timeframe;
    this.live = live;
    this.chartElement = document.getElementById("market-chart");
    this.message = document.getElementById("market-message");
    this.chart = null;
    this.lastTime = 0;
  }

  say(text, ok = false) {
    this.message.textContent = text;
    this.message.dataset.state = ok ? "ok" : "error";
  }

  async start() {
    if (!this.account) return;
    const streams = [
      { kind: "ticker", interval_ms: INTERVAL_MS },
      { kind: "orderbook", depth: DEPTH, interval_ms: INTERVAL_MS },
      { kind: "ohlcv", timeframe: this.timeframe, interval_ms: INTERVAL_MS },
    ];
    for (const stream of streams) {
      const { ok, error } = await api("POST", "/api/marketdata/subscriptions/", {
        account: this.account,
        symbol: this.symbol,
        ...stream,
      });
      if (!ok) {
        this.say(error);
        break;
      }
    }
    await this.load();
  }

  // Called on every socket (re)connect: follow this market's group.
  watch() {
    if (this.account) this.live.send({ type: "watch", account: this.account, symbol: this.symbol });
  }

  async load() {
    const since = new Date(Date.now() - HISTORY * SECONDS[this.timeframe] * 1000).toISOString();
    const query = new URLSearchParams({
      account: this.account,
      symbol: this.symbol,
      timeframe: this.timeframe,
      start: since,
      limit: String(HISTORY),
    });
    const { ok, data, error } = await api("GET", `/api/candles/?${query}`);
    if (!ok) {
      this.chartElement.dataset.state = "empty";
      this.chartElement.textContent = error;
      return;
    }
    const lib = window.LightweightCharts;
    if (!this.chart) {
      this.chartElement.textContent = "";
      this.chart = lib.createChart(this.chartElement, {
        autoSize: true,
        height: this.chartElement.clientHeight || 360,
        layout: { background: { color: "transparent" }, textColor: "#c9d1d9" },
        grid: { vertLines: { color: "#21262d" }, horzLines: { color: "#21262d" } },
        timeScale: { timeVisible: true, secondsVisible: false },
      });
      this.series = this.chart.addSeries(lib.CandlestickSeries, {
        upColor: "#3fb950",
        downColor: "#f85149",
        wickUpColor: "#3fb950",
        wickDownColor: "#f85149",
        borderVisible: false,
      });
    }
    const bars = data.results.map(bar);
    this.series.setData(bars);
    this.lastTime = bars.length ? bars[bars.length - 1].time : 0;
    this.chart.timeScale().fitContent();
    this.chartElement.dataset.state = bars.length ? "ready" : "waiting";
    this.chartElement.dataset.bars = String(bars.length);
  }

  onEvent(event, payload) {
    if (payload.symbol !== this.symbol) return;
    if (event === "market.candle" && payload.timeframe === this.timeframe && this.series) {
      const next = bar(payload);
      if (next.time < this.lastTime) return; // lightweight-charts updates only the last bar
      this.series.update(next);
      this.lastTime = next.time;
      this.chartElement.dataset.state = "ready";
      this.chartElement.dataset.live = String(next.time);
    } else if (event === "market.ticker") {
      const last = document.getElementById("market-last");
      last.textContent = show(payload.last);
      last.dataset.state = "live";
      const ticker = document.getElementById("market-ticker");
      ticker.querySelector('[data-q="bid"]').textContent = show(payload.bid);
      ticker.querySelector('[data-q="ask"]').textContent = show(payload.ask);
      const age = payload.ts ? Math.max(0, Date.now() - payload.ts) : null;
      ticker.querySelector('[data-q="age"]').textContent = age === null ? "-" : `${age} ms`;
    } else if (event === "market.book") {
      const body = document.querySelector("#market-book tbody");
      const rows = [];
      const depth = Math.max(payload.bids.length, payload.asks.length);
      for (let i = 0; i < depth; i += 1) {
        const row = document.createElement("tr");
        const [bid, bidAmount] = payload.bids[i] || [null, null];
        const [ask, askAmount] = payload.asks[i] || [null, null];
        for (const [value, side] of [[bidAmount, "bid"], [bid, "bid"], [ask, "ask"], [askAmount, "ask"]]) {
          const cell = document.createElement("td");
          cell.className = `num ${side}`;
          cell.textContent = show(value);
          row.append(cell);
        }
        rows.push(row);
      }
      body.replaceChildren(...rows);
    }
  }
}
