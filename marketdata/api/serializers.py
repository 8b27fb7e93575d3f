from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import ExchangeAccount
from common.api import StrictInput
from marketdata.models import Candle, Subscription


@extend_schema_field(OpenApiTypes.INT)
class OwnAccountField(serializers.PrimaryKeyRelatedField):
    """One of the requesting user's accounts; another user's answers like a missing one."""

    default_error_messages = {
        "does_not_exist": "No such account.",
        "incorrect_type": "No such account.",
    }

    def get_queryset(self):
        user = getattr(self.context.get("request"), "user", None)
        return ExchangeAccount.objects.filter(owner_id=getattr(user, "pk", None))


class SubscriptionInput(StrictInput, serializers.Serializer):
    account = OwnAccountField()
    kind = serializers.ChoiceField(choices=Subscription.Kind.choices)
    symbol = serializers.CharField(max_length=50)
    timeframe = serializers.CharField(max_length=5, required=False, default="", allow_blank=True)
    depth = serializers.IntegerField(required=False, default=0, min_value=0, max_value=1000)
    interval_ms = serializers.IntegerField(
        required=False, default=1000, min_value=1, max_value=86_400_000
    )


class UnsubscribeInput(StrictInput, serializers.Serializer):
    account = OwnAccountField()
    symbol = serializers.CharField(max_length=50)


class SubscriptionOutput(serializers.ModelSerializer):
    class Meta:
        model = Subscription
        fields = [
            "id",
            "account",
            "venue",
            "kind",
            "symbol",
            "timeframe",
            "depth",
            "interval_ms",
            "is_active",
            "origin",
            "origin_ref",
            "last_update_at",
            "last_error",
            "last_error_at",
            "created_at",
        ]


class MarketQuery(StrictInput, serializers.Serializer):
    """Query parameters naming a symbol on one of the user's accounts' venues."""

    account = OwnAccountField()
    symbol = serializers.CharField(max_length=50)


class CandleQuery(MarketQuery):
    timeframe = serializers.CharField(max_length=5, default="1m")
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1500)
    offset = serializers.IntegerField(required=False, min_value=0)

    def validate(self, attrs):
        start, end = attrs.get("start"), attrs.get("end")
        if start and end and end < start:
            raise serializers.ValidationError({"end": "end is before start."})
        return attrs


class BookQuery(MarketQuery):
    levels = serializers.IntegerField(required=False, default=10, min_value=1, max_value=1000)


class MarketCandleOutput(serializers.ModelSerializer):
    class Meta:
        model = Candle
        fields = ["open_time", "open", "high", "low", "close", "volume", "closed"]


class QuoteOutput(serializers.Serializer):
    venue = serializers.CharField()
    symbol = serializers.CharField()
    last = serializers.CharField(allow_null=True)
    bid = serializers.CharField(allow_null=True)
    ask = serializers.CharField(allow_null=True)
    ts = serializers.IntegerField(allow_null=True, help_text="The venue's time, ms.")
    age_ms = serializers.IntegerField()


class BookOutput(serializers.Serializer):
    venue = serializers.CharField()
    symbol = serializers.CharField()
    bids = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    asks = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    ts = serializers.IntegerField()
    age_ms = serializers.IntegerField()


class VenueStatusOutput(serializers.Serializer):
    venue = serializers.CharField()
    connected = serializers.BooleanField()
    streams = serializers.IntegerField()
    messages_per_second = serializers.FloatField()
    last_message_age_ms = serializers.IntegerField(allow_null=True)
    subscriptions = serializers.IntegerField()
