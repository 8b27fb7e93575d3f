from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from accounts.models import AccountGroup, ExchangeAccount
from common.models import TimeStamped, money_field


class Strategy(TimeStamped):
    """A named strategy: its signals and orders carry the name, and limits at the
    strategy scope (risk.RiskLimit) apply to them."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="strategies"
    )
    name = models.CharField(max_length=100)
    account = models.ForeignKey(
        ExchangeAccount, on_delete=models.PROTECT, null=True, blank=True, related_name="strategies"
    )
    parameters = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="strategy_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class SignalSource(TimeStamped):
    """Where signals come from: the API, a TradingView alert, a strategy, a person.

    A webhook source authenticates by a secret in the alert's JSON body (TradingView
    cannot send headers); only its SHA-256 is stored, compared in constant time.
    """

    class Kind(models.TextChoices):
        API = "api", "API"
        WEBHOOK = "webhook", "TradingView webhook"
        STRATEGY = "strategy", "Strategy"
        MANUAL = "manual", "Manual"

    class Sizing(models.TextChoices):
        FIXED_QUOTE = "fixed_quote", "Fixed quote amount"
        PCT_EQUITY = "pct_equity", "% of equity"
        FIXED_RISK = "fixed_risk", "Fixed risk per trade (needs a stop-loss)"
        KELLY = "kelly", "Fractional Kelly from the account's closed trades"
        VOLATILITY = "volatility", "Volatility-adjusted (ATR of recent candles)"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signal_sources"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    secret_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    ip_allowlist_enabled = models.BooleanField(default=False)
    allowed_ips = models.JSONField(default=list, blank=True)
    min_confidence = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Signals with a lower strength are stored and ignored.",
    )
    account = models.ForeignKey(
        ExchangeAccount, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    account_group = models.ForeignKey(
        AccountGroup, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    strategy = models.ForeignKey(Strategy, on_delete=models.SET_NULL, null=True, blank=True)
    sizing = models.CharField(max_length=12, choices=Sizing.choices, default=Sizing.FIXED_QUOTE)
    sizing_value = money_field(
        default=100,
        help_text="Fixed quote: the quote amount. % of equity: the fraction (0.02). Fixed "
        "risk: the risk amount. Kelly: the Kelly fraction (0.5 = half Kelly). "
        "Volatility: the fraction of equity risked per ATR multiple.",
    )
    sizing_params = models.JSONField(
        default=dict,
        blank=True,
        help_text='Kelly: {"cap_pct": "0.2"}. Volatility: {"atr_multiple": "2", '
        '"timeframe": "1h", "period": 14}.',
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="signal_source_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def clean(self) -> None:
        """The allowlist is addresses and networks (normalised), and the account and the
        group the source trades on are its owner's (admin forms call this)."""
        from strategies.allowlist import parse_allowlist

        errors = {}
        try:
            self.allowed_ips = [str(net) for net in parse_allowlist(self.allowed_ips or [])]
        except ValueError as exc:
            errors["allowed_ips"] = str(exc)
        if self.owner_id is not None:
            if self.account_id is not None and self.account.owner_id != self.owner_id:
                errors["account"] = "This account belongs to another user."
            if self.account_group_id is not None and self.account_group.owner_id != self.owner_id:
                errors["account_group"] = "This group belongs to another user."
        if errors:
            raise ValidationError(errors)


class Signal(models.Model):
    """One trading idea, stored once per (source, external id): a repeated alert is the
    same signal. Its status says what became of it; its decisions and orders say how."""

    class Action(models.TextChoices):
        BUY = "buy", "Buy"
        SELL = "sell", "Sell"
        LONG = "long", "Long"
        SHORT = "short", "Short"
        CLOSE = "close", "Close"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        IGNORED = "ignored", "Ignored (below the source's confidence)"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        EXECUTED = "executed", "Executed"
        FAILED = "failed", "Failed"

    source = models.ForeignKey(SignalSource, on_delete=models.PROTECT, related_name="signals")
    external_id = models.CharField(max_length=100)
    account = models.ForeignKey(
        ExchangeAccount, on_delete=models.PROTECT, null=True, blank=True, related_name="signals"
    )
    account_group = models.ForeignKey(
        AccountGroup, on_delete=models.PROTECT, null=True, blank=True, related_name="signals"
    )
    symbol = models.CharField(max_length=40)
    action = models.CharField(max_length=5, choices=Action.choices)
    strength = models.DecimalField(max_digits=4, decimal_places=3, null=True, blank=True)
    entry_price = money_field(null=True, blank=True, help_text="Empty: at the market.")
    stop_loss = money_field(null=True, blank=True)
    stop_loss_pct = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    take_profit = money_field(null=True, blank=True)
    take_profit_pct = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    size_hint = money_field(null=True, blank=True, help_text="Quote amount to trade.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    status_reason = models.TextField(blank=True, default="")
    payload = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    orders = models.ManyToManyField("orders.Order", blank=True, related_name="signals")
    decisions = models.ManyToManyField("risk.RiskDecision", blank=True, related_name="signals")

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="signal_unique_per_source"
            ),
            models.CheckConstraint(
                condition=Q(strength__isnull=True) | Q(strength__gte=0, strength__lte=1),
                name="signal_strength_0_1",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.symbol} [{self.status}]"
