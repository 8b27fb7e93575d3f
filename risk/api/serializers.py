from __future__ import annotations

from rest_framework import serializers

from accounts.models import ExchangeAccount
from common.api import StrictInput
from common.filters import IdField
from risk.models import RiskDecision, RiskEvent, RiskLimit, RiskState


class RiskLimitSerializer(StrictInput, serializers.ModelSerializer):
    class Meta:
        model = RiskLimit
        fields = [
            "id",
            "scope",
            "account",
            "strategy",
            "enabled",
            *RiskLimit.LIMIT_FIELDS,
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def get_fields(self):
        # Only the user's own accounts can be named, and another user's account answers
        # exactly like a missing one: the message is no oracle of which ids exist.
        fields = super().get_fields()
        account = fields["account"]
        request = self.context.get("request")
        owner = getattr(request, "user", None)
        account.queryset = ExchangeAccount.objects.filter(owner_id=getattr(owner, "pk", None))
        account.error_messages["does_not_exist"] = "No such account."
        account.error_messages["incorrect_type"] = "No such account."
        return fields

    def validate_allowed_symbols(self, value):
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(s, str) for s in value)
        ):
            raise serializers.ValidationError('A list of symbols, e.g. ["BTC/USDT"].')
        return value

    def validate(self, attrs):
        scope = attrs.get("scope", getattr(self.instance, "scope", None))
        account = attrs.get("account", getattr(self.instance, "account", None))
        strategy = attrs.get("strategy", getattr(self.instance, "strategy", ""))
        if scope == RiskLimit.Scope.GLOBAL and (account or strategy):
            raise serializers.ValidationError("Global limits name no account or strategy.")
        if scope == RiskLimit.Scope.ACCOUNT and (not account or strategy):
            raise serializers.ValidationError("Account limits name an account (only).")
        if scope == RiskLimit.Scope.STRATEGY and (account or not strategy):
            raise serializers.ValidationError("Strategy limits name a strategy (only).")
        for field in ("max_position_pct", "max_drawdown_pct", "max_price_deviation_pct"):
            value = attrs.get(field)
            if value is not None and not (0 < value <= 1):
                raise serializers.ValidationError({field: "a fraction above 0, at most 1."})
        for field in ("max_order_value", "max_order_amount", "min_order_value", "max_daily_loss"):
            value = attrs.get(field)
            if value is not None and value <= 0:
                raise serializers.ValidationError({field: "must be above zero."})
        return attrs


class RiskDecisionOutput(serializers.ModelSerializer):
    class Meta:
        model = RiskDecision
        fields = [
            "id",
            "account",
            "order",
            "approved",
            "reason",
            "proposal",
            "snapshot",
            "limits",
            "verdicts",
            "context",
            "actor",
            "created_at",
        ]
        read_only_fields = fields


class RiskStateOutput(serializers.ModelSerializer):
    class Meta:
        model = RiskState
        fields = [
            "account",
            "kill_switch",
            "kill_reason",
            "breaker",
            "breaker_reason",
            "equity_peak",
            "changed_at",
        ]
        read_only_fields = fields


class RiskStatesOutput(serializers.Serializer):
    global_kill_switch = serializers.BooleanField()
    accounts = RiskStateOutput(many=True)


class RiskEventOutput(serializers.ModelSerializer):
    class Meta:
        model = RiskEvent
        fields = ["id", "account", "type", "reason", "actor", "created_at"]
        read_only_fields = fields


class KillSwitchInput(StrictInput, serializers.Serializer):
    account = IdField(required=False, help_text="Omit for the global switch (staff only).")
    on = serializers.BooleanField()
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)
    panic = serializers.BooleanField(
        default=False, help_text="Also cancel open orders and close positions."
    )


class BreakerResetInput(StrictInput, serializers.Serializer):
    account = IdField()
    reason = serializers.CharField(max_length=500)


class KillSwitchOutput(serializers.Serializer):
    account = serializers.IntegerField(allow_null=True, help_text="null: the global switch.")
    on = serializers.BooleanField()


class BreakerResetOutput(serializers.Serializer):
    account = serializers.IntegerField()
    breaker = serializers.CharField(allow_blank=True, help_text='"": the breaker is closed.')
