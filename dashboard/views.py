"""Server-rendered pages. Each renders the same dicts the API returns (output serializers),
and static/dashboard/ patches them in place from websocket events."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required as _login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse_lazy
from rest_framework.exceptions import ValidationError

from accounts.models import ExchangeAccount
from dashboard import selectors
from dashboard.templatetags.dashboard import show
from orders.api.views import _parse_filters
from orders.models import Order
from orders.states import Status
from positions.services import prices_refresh_start
from risk.api.serializers import RiskStateOutput

# The dashboard's own login page: the admin's (LOGIN_URL) admits staff only.
login_required = _login_required(login_url=reverse_lazy("dashboard:login"))


def _page(request, template: str, page: str, context: dict, data: dict | None = None):
    accounts = context.get("accounts") or selectors.accounts(user=request.user)
    page_data = {
        "page": page,
        "accounts": [{"id": a["id"], "label": a["label"]} for a in accounts],
        "openStatuses": selectors.OPEN_STATUSES,
        **(data or {}),
    }
    return render(
        request,
        template,
        {
            "page": page,
            "accounts": accounts,
            "labels": {a["id"]: a["label"] for a in accounts},
            "page_data": page_data,
            "reference": settings.PORTFOLIO_REFERENCE_ASSET,
            **context,
        },
    )


@login_required
def overview(request):
    user = request.user
    cold: list = []
    portfolio = selectors.portfolio(user=user, cold=cold)
    # Cold prices are fetched by a worker, never here; the page asks again once they are in.
    pending = prices_refresh_start(accounts=cold)
    return _page(
        request,
        "dashboard/overview.html",
        "overview",
        {
            "portfolio": portfolio,
            "exposure": sorted(portfolio["exposure"].items()),
            "positions": selectors.positions(user=user, status="open"),
            "orders": selectors.open_orders(user=user),
            "fills": selectors.fills(user=user),
            "global_kill_switch": selectors.global_kill_switch(),
        },
        {"pricesPending": pending},
    )


ORDER_FILTERS = ("account", "symbol", "status")


@login_required
def orders(request):
    raw = {name: request.GET.get(name, "").strip() for name in ORDER_FILTERS}
    error = ""
    try:
        filters = _parse_filters({k: v for k, v in raw.items() if v})
    except ValidationError as exc:
        error = "; ".join(
            f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in exc.detail.items()
        )
        filters = {}
    return _page(
        request,
        "dashboard/orders.html",
        "orders",
        {
            "orders": selectors.orders(user=request.user, filters=filters),
            "filters": raw,
            "filter_error": error,
            "statuses": [s.value for s in Status],
            "sides": Order.Side.choices,
            "types": Order.Type.choices,
            "tifs": Order.TimeInForce.choices,
        },
        {"filters": {k: v for k, v in raw.items() if v and not error}},
    )


def _event_line(event: dict) -> str:
    parts = []
    if event["old_status"] != event["new_status"] and event["new_status"]:
        parts.append(f"{event['old_status'] or '-'} -> {event['new_status']}")
    if event["new_filled"] is not None and event["old_filled"] != event["new_filled"]:
        parts.append(f"filled {show(event['new_filled'])}")
    if event["reason"]:
        parts.append(event["reason"])
    parts.append(f"by {event['actor']}")
    return " · ".join(parts)


def _timeline(order: dict, decision: dict | None, signals: list[dict]) -> list[dict]:
    """The order's audit trail in time order: signal, risk decision, events, fills."""
    items = [
        {
            "key": f"signal-{s['id']}",
            "time": s["received_at"],
            "kind": "signal",
            "title": f"signal {s['action']} {s['symbol']}",
            "detail": f"{s['status']} {s['status_reason']}".strip(),
        }
        for s in signals
    ]
    if decision:
        items.append(
            {
                "key": f"decision-{decision['id']}",
                "time": decision["created_at"],
                "kind": "risk",
                "title": "risk approved" if decision["approved"] else "risk rejected",
                "detail": decision["reason"] or f"by {decision['actor']}",
            }
        )
    items += [
        {
            "key": f"event-{e['id']}",
            "time": e["created_at"],
            "kind": "event",
            "title": e["type"],
            "detail": _event_line(e),
        }
        for e in order["events"]
    ]
    items += [
        {
            "key": f"fill-{f['id']}",
            "time": f["created_at"],
            "kind": "fill",
            "title": f"fill {f['side']} {show(f['amount'])} @ {show(f['price'])}",
            "detail": f"fee {show(f['fee'])} {f['fee_asset']} · trade {f['exchange_trade_id']}",
        }
        for f in order["fills"]
    ]
    return sorted(items, key=lambda item: item["time"])


@login_required
def order_detail(request, pk: int):
    try:
        order = selectors.order_detail(user=request.user, pk=pk)
    except Order.DoesNotExist:
        raise Http404("No such order.") from None
    decision = selectors.order_decision(user=request.user, order_id=pk)
    signals = selectors.order_signals(user=request.user, order_id=pk)
    return _page(
        request,
        "dashboard/order_detail.html",
        "order",
        {
            "order": order,
            "decision": decision,
            "timeline": _timeline(order, decision, signals),
        },
        {"order": {"id": order["id"], "account": order["account"], "symbol": order["symbol"]}},
    )


@login_required
def positions(request):
    user = request.user
    open_positions = selectors.positions(user=user, status="open")
    accounts = selectors.accounts(user=user)
    chart = {"account": None, "symbol": "BTC/USDT"}
    if open_positions:
        chart = {"account": open_positions[0]["account"], "symbol": open_positions[0]["symbol"]}
    elif accounts:
        chart["account"] = accounts[0]["id"]
        if accounts[0]["market_type"] == ExchangeAccount.MarketType.SWAP:
            chart["symbol"] = "BTC/USDT:USDT"
    return _page(
        request,
        "dashboard/positions.html",
        "positions",
        {
            "accounts": accounts,
            "positions": open_positions,
            "closed": selectors.positions(user=user, status="closed", limit=50),
            "chart": chart,
        },
        {"chart": chart},
    )


@login_required
def accounts(request):
    return _page(
        request,
        "dashboard/accounts.html",
        "accounts",
        {
            "modes": ExchangeAccount.Mode.choices,
            "market_types": ExchangeAccount.MarketType.choices,
        },
    )


@login_required
def signals(request):
    return _page(
        request,
        "dashboard/signals.html",
        "signals",
        {"signals": selectors.signals(user=request.user)},
    )


@login_required
def risk(request):
    user = request.user
    return _page(
        request,
        "dashboard/risk.html",
        "risk",
        {
            "global_kill_switch": selectors.global_kill_switch(),
            "states": {
                s["account"]: s
                for s in RiskStateOutput(selectors.risk_states(user=user), many=True).data
            },
            "limits": selectors.risk_limits(user=user),
            "decisions": selectors.risk_decisions(user=user),
        },
    )


MARKET_TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")


@login_required
def market(request):
    """A market: live candles, the book's top levels and the ticker of one symbol on the
    venue of one of the user's accounts (the page subscribes to its streams)."""
    accounts = selectors.accounts(user=request.user)
    chosen = request.GET.get("account", "")
    account = next(
        (a for a in accounts if str(a["id"]) == chosen), accounts[0] if accounts else None
    )
    swap = account is not None and account["market_type"] == ExchangeAccount.MarketType.SWAP
    symbol = request.GET.get("symbol", "").strip()[:50] or ("BTC/USDT:USDT" if swap else "BTC/USDT")
    timeframe = request.GET.get("timeframe", "1m")
    if timeframe not in MARKET_TIMEFRAMES:
        timeframe = "1m"
    market = {
        "account": account["id"] if account else None,
        "symbol": symbol,
        "timeframe": timeframe,
    }
    return _page(
        request,
        "dashboard/market.html",
        "market",
        {"accounts": accounts, "market": market, "timeframes": MARKET_TIMEFRAMES},
        {"market": market},
    )
