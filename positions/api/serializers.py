from __future__ import annotations

from rest_framework import serializers

from accounts.models import BalanceSnapshot
from common.api import CachedFieldsSerializer, StrictInput
from common.filters import IdField, WholeNumberField
from orders.api.serializers import FillOutput
from positions.models import Balance, Drift, Position

MONEY = {"max_digits": 38, "decimal_places": 18}


class PositionOutput(CachedFieldsSerializer):
    class Meta:
        model = Position
        fields = [
            "id",
            "account",
            "symbol",
            "side",
            "source",
            "status",
            "base_asset",
            "quote_asset",
            "contracts",
            "contract_size",
            "entry_price",
            "mark_price",
            "liquidation_price",
            "unrealized_pnl",
            "realized_pnl",
            "margin",
            "leverage",
            "notional",
            "protection",
            "protection_reason",
            "protection_changed_at",
            "opened_at",
            "closed_at",
            "last_synced_at",
            "updated_at",
        ]
        read_only_fields = fields


class BalanceOutput(CachedFieldsSerializer):
    class Meta:
        model = Balance
        fields = ["account", "asset", "total", "free", "used", "synced_at"]
        read_only_fields = fields


class BalanceSnapshotOutput(serializers.ModelSerializer):
    class Meta:
        model = BalanceSnapshot
        fields = [
            "account",
            "asset",
            "total",
            "free",
            "used",
            "value_quote",
            "quote_asset",
            "taken_at",
        ]
        read_only_fields = fields


class DriftOutput(serializers.ModelSerializer):
    class Meta:
        model = Drift
        fields = [
            "id",
            "account",
            "position",
            "kind",
            "subject",
            "field",
            "ours",
            "theirs",
            "detected_at",
        ]
        read_only_fields = fields


class PortfolioOutput(serializers.Serializer):
    reference = serializers.CharField()
    equity = serializers.DecimalField(**MONEY)
    equity_by_account = serializers.DictField(child=serializers.DecimalField(**MONEY))
    unvalued_assets = serializers.ListField(child=serializers.CharField())
    exposure = serializers.DictField(child=serializers.DecimalField(**MONEY))
    unrealized = serializers.DecimalField(**MONEY)
    realized_today = serializers.DecimalField(**MONEY)
    pnl_today = serializers.DecimalField(**MONEY)
    prices_pending = serializers.SerializerMethodField(
        help_text="A venue's prices were not cached: a worker is fetching them, and its "
        "assets are unvalued until then."
    )

    def get_prices_pending(self, portfolio) -> bool:
        return bool(self.context.get("prices_pending"))


class CloseAllInput(StrictInput, serializers.Serializer):
    account = IdField()


class AccountQuery(serializers.Serializer):
    """Query parameters: one of the user's accounts, or all of them."""

    account = IdField(required=False)


TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")


class ChartQuery(serializers.Serializer):
    account = IdField()
    symbol = serializers.CharField(max_length=40, help_text="e.g. BTC/USDT")
    timeframe = serializers.ChoiceField(choices=TIMEFRAMES, default="1m")
    limit = WholeNumberField(min_value=1, max_value=1000, default=300)


class CandleOutput(serializers.Serializer):
    time = serializers.IntegerField(help_text="Candle open, milliseconds since the epoch (UTC).")
    open = serializers.CharField()
    high = serializers.CharField()
    low = serializers.CharField()
    close = serializers.CharField()
    volume = serializers.CharField()


class ChartOutput(serializers.Serializer):
    """A price chart: the venue's candles and the account's own fills to mark on them."""

    account = serializers.IntegerField()
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    candles = CandleOutput(many=True)
    candles_as_of = serializers.DateTimeField(
        allow_null=True, help_text="When a worker fetched these candles from the exchange."
    )
    refreshing = serializers.BooleanField(
        help_text="A worker is fetching newer candles: ask again in a second."
    )
    fills = FillOutput(many=True)


class SyncJobOutput(serializers.Serializer):
    """A sync asked for: queued or running on a worker."""

    account = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["running"])
    requested_at = serializers.DateTimeField()


class EquityPointOutput(serializers.Serializer):
    time = serializers.DateTimeField()
    equity = serializers.DecimalField(**MONEY)


class EquityOutput(serializers.Serializer):
    reference = serializers.CharField()
    points = EquityPointOutput(many=True)


def _decimal_text(**kwargs):
    # Exact decimal text, as long as it needs to be (common.api.json_ready).
    return serializers.CharField(allow_null=True, help_text="A decimal number.", **kwargs)


class DrawdownOutput(serializers.Serializer):
    fraction = _decimal_text()
    peak_at = serializers.DateTimeField()
    peak_equity = _decimal_text()
    trough_at = serializers.DateTimeField()
    trough_equity = _decimal_text()
    recovered_at = serializers.DateTimeField(allow_null=True)


class PerformanceOutput(serializers.Serializer):
    """Performance statistics (positions.performance.PerformanceSummary): null where a
    statistic needs more than there is (no trades, no losses, a flat curve)."""

    trade_count = serializers.IntegerField()
    win_count = serializers.IntegerField()
    loss_count = serializers.IntegerField()
    net_pnl = _decimal_text()
    gross_profit = _decimal_text()
    gross_loss = _decimal_text()
    win_rate = _decimal_text()
    average_win = _decimal_text()
    average_loss = _decimal_text()
    profit_factor = _decimal_text()
    expectancy = _decimal_text()
    total_return = _decimal_text()
    annualized_return = _decimal_text()
    max_drawdown = DrawdownOutput(allow_null=True)
    sharpe = _decimal_text()
    sortino = _decimal_text()
    calmar = _decimal_text()
