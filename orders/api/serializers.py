from __future__ import annotations

from rest_framework import serializers

from common.api import CachedFieldsSerializer, StrictInput
from common.filters import IdField
from orders.models import Fill, Order, OrderEvent

MONEY = {"max_digits": 38, "decimal_places": 18}


class FillOutput(CachedFieldsSerializer):
    class Meta:
        model = Fill
        fields = [
            "id",
            "account",
            "order",
            "exchange_trade_id",
            "symbol",
            "side",
            "price",
            "amount",
            "cost",
            "fee",
            "fee_asset",
            "is_maker",
            "exchange_ts",
            "created_at",
        ]
        read_only_fields = fields


class OrderEventOutput(CachedFieldsSerializer):
    class Meta:
        model = OrderEvent
        fields = [
            "id",
            "type",
            "old_status",
            "new_status",
            "old_filled",
            "new_filled",
            "old_remaining",
            "new_remaining",
            "old_price",
            "new_price",
            "fill",
            "reason",
            "actor",
            "created_at",
        ]
        read_only_fields = fields


class OrderOutput(CachedFieldsSerializer):
    """One order as the API and the dashboard's websocket both show it."""

    # "" where none applies (market and stop-market orders), as group_kind and role: the
    # schema said only GTC, IOC or FOK.
    time_in_force = serializers.ChoiceField(
        choices=Order.TimeInForce.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = Order
        fields = [
            "id",
            "account",
            "symbol",
            "side",
            "type",
            "time_in_force",
            "amount",
            "price",
            "stop_price",
            "reduce_only",
            "post_only",
            "client_order_id",
            "exchange_order_id",
            "status",
            "status_reason",
            "filled",
            "remaining",
            "average_price",
            "cost",
            "fees",
            "parent",
            "linked",
            "replaces",
            "group_kind",
            "role",
            "stop_loss_price",
            "take_profit_price",
            "origin",
            "submitted_at",
            "closed_at",
            "exchange_created_at",
            "exchange_updated_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class OrderDetailOutput(OrderOutput):
    events = OrderEventOutput(many=True, read_only=True)
    fills = FillOutput(many=True, read_only=True)

    class Meta(OrderOutput.Meta):
        fields = [*OrderOutput.Meta.fields, "events", "fills"]
        read_only_fields = fields


class OrderCreateInput(StrictInput, serializers.Serializer):
    account = IdField()
    symbol = serializers.CharField(max_length=40)
    side = serializers.ChoiceField(choices=Order.Side.choices)
    type = serializers.ChoiceField(choices=Order.Type.choices)
    amount = serializers.DecimalField(**MONEY, min_value=0)
    price = serializers.DecimalField(**MONEY, min_value=0, required=False, allow_null=True)
    stop_price = serializers.DecimalField(**MONEY, min_value=0, required=False, allow_null=True)
    time_in_force = serializers.ChoiceField(
        choices=Order.TimeInForce.choices, required=False, allow_blank=True
    )
    reduce_only = serializers.BooleanField(default=False)
    post_only = serializers.BooleanField(default=False)
    stop_loss_price = serializers.DecimalField(
        **MONEY, min_value=0, required=False, allow_null=True
    )
    take_profit_price = serializers.DecimalField(
        **MONEY, min_value=0, required=False, allow_null=True
    )


class CancelAllInput(StrictInput, serializers.Serializer):
    account = IdField()
    symbol = serializers.CharField(max_length=40, required=False)


class CancelAllOutput(serializers.Serializer):
    canceled = serializers.IntegerField()


class AmendInput(StrictInput, serializers.Serializer):
    amount = serializers.DecimalField(**MONEY, min_value=0, required=False)
    price = serializers.DecimalField(**MONEY, min_value=0, required=False)
