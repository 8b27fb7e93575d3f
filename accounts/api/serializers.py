from __future__ import annotations

from rest_framework import serializers

from accounts.models import Alert, ApiToken, ExchangeAccount, ExchangeSyncState
from common.api import StrictInput


class SyncStateOutput(serializers.ModelSerializer):
    class Meta:
        model = ExchangeSyncState
        fields = [
            "kind",
            "last_attempt_at",
            "last_success_at",
            "consecutive_errors",
            "last_error",
            "ws_connected",
            "ws_last_heartbeat_at",
            "ws_reconnects",
        ]
        read_only_fields = fields


class AccountOutput(serializers.ModelSerializer):
    """What anyone may see of an account: never a credential, only the key's last 4."""

    masked_key = serializers.CharField(read_only=True)
    sync_states = SyncStateOutput(many=True, read_only=True)

    class Meta:
        model = ExchangeAccount
        fields = [
            "id",
            "exchange_id",
            "label",
            "mode",
            "market_type",
            "masked_key",
            "can_trade",
            "key_checked_at",
            "key_can_withdraw",
            "is_active",
            "last_sync_at",
            "last_error",
            "last_error_at",
            "created_at",
            "updated_at",
            "sync_states",
        ]
        read_only_fields = fields


class _Credentials(StrictInput, serializers.Serializer):
    api_key = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=256, trim_whitespace=True
    )
    api_secret = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=256, trim_whitespace=True
    )
    api_passphrase = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=256, trim_whitespace=True
    )


class AccountCreateInput(_Credentials):
    exchange_id = serializers.CharField(max_length=50)
    label = serializers.CharField(max_length=100)
    mode = serializers.ChoiceField(
        choices=ExchangeAccount.Mode.choices, default=ExchangeAccount.Mode.SIMULATOR
    )
    market_type = serializers.ChoiceField(
        choices=ExchangeAccount.MarketType.choices, default=ExchangeAccount.MarketType.SPOT
    )
    can_trade = serializers.BooleanField(default=False)


class AccountUpdateInput(_Credentials):
    label = serializers.CharField(max_length=100, required=False)
    can_trade = serializers.BooleanField(required=False)
    is_active = serializers.BooleanField(required=False)

    IMMUTABLE = ("exchange_id", "mode", "market_type")
    extra_known = IMMUTABLE  # refused by validate(), with the reason

    def validate(self, attrs):
        fixed = sorted(set(self.initial_data) & set(self.IMMUTABLE))
        if fixed:
            raise serializers.ValidationError(
                {
                    name: "cannot be changed: orders and positions belong to it. "
                    "Create a new account instead."
                    for name in fixed
                }
            )
        return attrs


class ConnectionResultOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    checked_at = serializers.DateTimeField()
    message = serializers.CharField()
    error = serializers.CharField()
    outcome = serializers.CharField()
    markets = serializers.IntegerField()
    assets = serializers.ListField(child=serializers.CharField())
    can_withdraw = serializers.BooleanField(allow_null=True)


class ConnectionTestOutput(serializers.Serializer):
    """A connection test done by a worker: ``running`` (queued or running) until its
    ``result`` is in (``done``)."""

    account = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["running", "done"])
    requested_at = serializers.DateTimeField(
        allow_null=True, help_text="When the test was asked for (null: by a key change)."
    )
    finished_at = serializers.DateTimeField(allow_null=True)
    result = ConnectionResultOutput(
        allow_null=True, help_text="Null while running, or when the test broke off."
    )


class AlertOutput(serializers.ModelSerializer):
    class Meta:
        model = Alert
        fields = [
            "id",
            "account",
            "kind",
            "severity",
            "subject",
            "message",
            "occurrences",
            "created_at",
            "last_seen_at",
            "acknowledged_at",
        ]
        read_only_fields = fields


class TokenOutput(serializers.ModelSerializer):
    """An API token as anyone may see it: its first characters, never the key."""

    state = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "revoked_at", "state"]
        read_only_fields = fields

    def get_state(self, token) -> str:
        return token.state()


class TokenCreatedOutput(TokenOutput):
    """The answer that makes a token: the key, this once."""

    key = serializers.CharField(read_only=True)

    class Meta(TokenOutput.Meta):
        fields = [*TokenOutput.Meta.fields, "key"]
        read_only_fields = fields


class TokenCreateInput(StrictInput, serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    days = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="How long it works, in days (default API_TOKEN_DAYS, at most "
        "API_TOKEN_MAX_DAYS).",
    )
    # Without a login (a script): the user's name and password make the token.
    username = serializers.CharField(max_length=150, required=False, write_only=True)
    password = serializers.CharField(
        max_length=4096, required=False, write_only=True, trim_whitespace=False
    )
