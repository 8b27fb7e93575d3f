from __future__ import annotations

from rest_framework import serializers

from common.api import CachedFieldsSerializer, StrictInput
from common.filters import IdField
from orders.api.serializers import OrderOutput
from strategies.models import Signal, Strategy

MONEY = {"max_digits": 38, "decimal_places": 18}
PCT = {"max_digits": 9, "decimal_places": 6, "min_value": 0, "max_value": 1}


class SignalInput(StrictInput, serializers.Serializer):
    account = IdField(required=False)
    group = IdField(required=False)
    symbol = serializers.CharField(max_length=40)
    action = serializers.ChoiceField(choices=Signal.Action.choices)
    strength = serializers.DecimalField(
        max_digits=4, decimal_places=3, min_value=0, max_value=1, required=False, allow_null=True
    )
    entry_price = serializers.DecimalField(**MONEY, min_value=0, required=False, allow_null=True)
    stop_loss = serializers.DecimalField(**MONEY, min_value=0, required=False, allow_null=True)
    stop_loss_pct = serializers.DecimalField(**PCT, required=False, allow_null=True)
    take_profit = serializers.DecimalField(**MONEY, min_value=0, required=False, allow_null=True)
    take_profit_pct = serializers.DecimalField(**PCT, required=False, allow_null=True)
    size = serializers.DecimalField(
        **MONEY, min_value=0, required=False, allow_null=True, help_text="Quote amount to trade."
    )

    def validate(self, attrs):
        if attrs.get("account") and attrs.get("group"):
            raise serializers.ValidationError("Give an account or a group, not both.")
        return attrs


class WebhookInput(SignalInput):
    """A TradingView alert. ``ticker`` and ``{{strategy.order.action}}`` map to symbol and
    action; ``secret`` authenticates (TradingView cannot send headers)."""

    secret = serializers.CharField(max_length=200, write_only=True)
    id = serializers.CharField(max_length=100, required=False)
    symbol = serializers.CharField(max_length=40, required=False)
    ticker = serializers.CharField(max_length=40, required=False)

    def validate(self, attrs):
        attrs = super().validate(attrs)
        symbol = attrs.get("symbol") or attrs.get("ticker")
        if not symbol:
            raise serializers.ValidationError({"symbol": "symbol (or ticker) is required."})
        attrs["symbol"] = normalize_symbol(symbol)
        return attrs


def normalize_symbol(raw: str) -> str:
    """TradingView's ``{{ticker}}`` is BTCUSDT (or BTCUSDT.P for perpetuals); ccxt wants
    BTC/USDT or BTC/USDT:USDT."""
    raw = raw.strip().upper()
    if "/" in raw:
        return raw
    perpetual = raw.endswith(".P")
    raw = raw.removesuffix(".P")
    for quote in ("USDT", "USDC", "BUSD", "USD", "BTC", "ETH", "EUR"):
        if raw.endswith(quote) and len(raw) > len(quote):
            base = raw[: -len(quote)]
            return f"{base}/{quote}:{quote}" if perpetual else f"{base}/{quote}"
    return raw


class SignalOutput(CachedFieldsSerializer):
    orders = OrderOutput(many=True, read_only=True)
    decisions = serializers.SerializerMethodField()

    class Meta:
        model = Signal
        fields = [
            "id",
            "source",
            "external_id",
            "account",
            "account_group",
            "symbol",
            "action",
            "strength",
            "entry_price",
            "stop_loss",
            "stop_loss_pct",
            "take_profit",
            "take_profit_pct",
            "size_hint",
            "status",
            "status_reason",
            "received_at",
            "processed_at",
            "orders",
            "decisions",
        ]
        read_only_fields = fields

    def get_decisions(self, signal) -> list[dict]:
        return [
            {
                "id": d.pk,
                "approved": d.approved,
                "reason": d.reason,
                "verdicts": d.verdicts,
                "created_at": d.created_at.isoformat(),
            }
            for d in signal.decisions.all()
        ]


class StrategyOutput(serializers.ModelSerializer):
    class Meta:
        model = Strategy
        fields = ["id", "name", "account", "parameters", "enabled", "created_at"]
        read_only_fields = fields


class WebhookOutput(serializers.Serializer):
    signal = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Signal.Status.choices)
    duplicate = serializers.BooleanField(help_text="The same alert was received before.")
