"""What the dashboard pages read: the apps' own selectors, scoped to the user, rendered by
the API's output serializers (so a page and a websocket event carry one shape)."""

from __future__ import annotations

from accounts.api.serializers import AccountOutput
from accounts.selectors import account_list
from orders.api.serializers import FillOutput, OrderDetailOutput, OrderOutput
from orders.models import Fill
from orders.selectors import order_detail_queryset, order_list
from orders.states import Status
from positions.api.serializers import PortfolioOutput, PositionOutput
from positions.selectors import portfolio_summary, position_list
from risk.api.serializers import RiskDecisionOutput, RiskLimitSerializer, RiskStateOutput
from risk.models import GlobalRiskState, RiskDecision, RiskLimit, RiskState
from strategies.api.serializers import SignalOutput
from strategies.models import Signal

OPEN_STATUSES = [
    Status.PENDING,
    Status.SUBMITTING,
    Status.UNKNOWN,
    Status.OPEN,
    Status.PARTIALLY_FILLED,
    Status.CANCEL_REQUESTED,
]


def connection_state(account: dict) -> str:
    """One word for an account's link to its venue (static/dashboard/format.js: same rule)."""
    if not account["is_active"]:
        return "inactive"
    if account["last_error"]:
        return "error"
    if any(s["kind"] == "stream" and s["ws_connected"] for s in account["sync_states"]):
        return "streaming"
    return "synced" if account["last_sync_at"] else "never synced"


def accounts(*, user) -> list[dict]:
    states = {s["account"]: s for s in RiskStateOutput(risk_states(user=user), many=True).data}
    rows = []
    for account in AccountOutput(account_list(user=user).order_by("pk"), many=True).data:
        row = dict(account)
        row["connection"] = connection_state(account)
        row["kill_switch"] = bool(states.get(account["id"], {}).get("kill_switch"))
        rows.append(row)
    return rows


def risk_states(*, user):
    return RiskState.objects.filter(account__owner=user).order_by("account_id")


def global_kill_switch() -> bool:
    state = GlobalRiskState.objects.filter(pk=1).first()
    return bool(state and state.kill_switch)


def portfolio(*, user, cold: list | None = None) -> dict:
    """The portfolio at cached prices; an account of each venue with none cached is
    appended to ``cold`` (positions.selectors.portfolio_summary)."""
    return PortfolioOutput(portfolio_summary(user=user, cold=cold)).data


def orders(*, user, filters: dict | None = None, limit: int = 100) -> list[dict]:
    queryset = order_list(user=user, filters=filters).order_by("-created_at", "-id")[:limit]
    return OrderOutput(queryset, many=True).data


def open_orders(*, user) -> list[dict]:
    return orders(user=user, filters={"status": ",".join(OPEN_STATUSES)})


def order_detail(*, user, pk: int) -> dict:
    """The order with its events and fills (Order.DoesNotExist for another user's)."""
    return OrderDetailOutput(order_detail_queryset(user=user).get(pk=pk)).data


def order_decision(*, user, order_id: int) -> dict | None:
    decision = RiskDecision.objects.filter(order_id=order_id, account__owner=user).first()
    return RiskDecisionOutput(decision).data if decision else None


def order_signals(*, user, order_id: int) -> list[dict]:
    signals = Signal.objects.filter(orders__pk=order_id, source__owner=user).prefetch_related(
        "orders", "decisions"
    )
    return SignalOutput(signals, many=True).data


def fills(*, user, limit: int = 20) -> list[dict]:
    queryset = Fill.objects.filter(account__owner=user).order_by("-created_at", "-id")[:limit]
    return FillOutput(queryset, many=True).data


def positions(*, user, status: str, limit: int = 100) -> list[dict]:
    queryset = position_list(user=user, filters={"status": status}).order_by("-updated_at", "-id")[
        :limit
    ]
    return PositionOutput(queryset, many=True).data


def signals(*, user, limit: int = 100) -> list[dict]:
    queryset = (
        Signal.objects.filter(source__owner=user)
        .prefetch_related("orders", "decisions")
        .order_by("-received_at", "-id")[:limit]
    )
    return SignalOutput(queryset, many=True).data


def risk_limits(*, user) -> list[dict]:
    return RiskLimitSerializer(
        RiskLimit.objects.filter(owner=user).order_by("scope", "pk"), many=True
    ).data


def risk_decisions(*, user, limit: int = 50) -> list[dict]:
    queryset = RiskDecision.objects.filter(account__owner=user).order_by("-created_at", "-id")
    return RiskDecisionOutput(queryset[:limit], many=True).data
