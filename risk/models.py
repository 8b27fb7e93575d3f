from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import ExchangeAccount
from common.models import TimeStamped, money_field


class RiskLimit(TimeStamped):
    """Limits at one scope. Every applicable row is merged and the most restrictive wins
    (risk.rules.merge_limits). An empty field means no limit from this row."""

    class Scope(models.TextChoices):
        GLOBAL = "global", "Global"
        ACCOUNT = "account", "Account"
        STRATEGY = "strategy", "Strategy"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="risk_limits"
    )
    scope = models.CharField(max_length=10, choices=Scope.choices)
    account = models.ForeignKey(
        ExchangeAccount, on_delete=models.CASCADE, null=True, blank=True, related_name="risk_limits"
    )
    # By name, not a foreign key: strategies depend on risk, never the other way.
    strategy = models.CharField(max_length=100, blank=True, default="")
    enabled = models.BooleanField(default=True)

    max_order_value = money_field(null=True, blank=True)
    max_order_amount = money_field(null=True, blank=True)
    min_order_value = money_field(null=True, blank=True)
    max_position_pct = models.DecimalField(
        max_digits=9, decimal_places=6, null=True, blank=True, help_text="Of equity; 0.25 = 25 %."
    )
    max_open_positions = models.PositiveIntegerField(null=True, blank=True)
    max_daily_loss = money_field(
        null=True, blank=True, help_text="Currency; realized today plus unrealized now."
    )
    max_drawdown_pct = models.DecimalField(
        max_digits=9, decimal_places=6, null=True, blank=True, help_text="From the equity peak."
    )
    max_price_deviation_pct = models.DecimalField(
        max_digits=9, decimal_places=6, null=True, blank=True
    )
    loss_cooldown_minutes = models.PositiveIntegerField(null=True, blank=True)
    max_orders_per_minute = models.PositiveIntegerField(null=True, blank=True)
    allowed_symbols = models.JSONField(
        null=True, blank=True, help_text='A list, e.g. ["BTC/USDT"]; empty: any.'
    )

    # The limits themselves, in the order risk.selectors reads them.
    LIMIT_FIELDS = (
        "max_order_value",
        "max_order_amount",
        "min_order_value",
        "max_position_pct",
        "max_open_positions",
        "max_daily_loss",
        "max_drawdown_pct",
        "max_price_deviation_pct",
        "loss_cooldown_minutes",
        "max_orders_per_minute",
        "allowed_symbols",
    )

    class Meta:
        ordering = ["scope", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(scope="global", account__isnull=True, strategy="")
                    | Q(scope="account", account__isnull=False, strategy="")
                    | Q(scope="strategy", account__isnull=True) & ~Q(strategy="")
                ),
                name="risk_limit_scope_matches_target",
            ),
        ]

    def __str__(self) -> str:
        target = self.account_id or self.strategy or "all accounts"
        return f"{self.scope} limits ({target})"


class RiskState(models.Model):
    """Per account: the row the risk gate locks, the kill switch and the breaker.

    Both stay set across restarts (they are rows, not memory) until a person resets
    them; every change is a RiskEvent.
    """

    account = models.OneToOneField(
        ExchangeAccount, on_delete=models.CASCADE, related_name="risk_state"
    )
    equity_peak = money_field(default=0)
    kill_switch = models.BooleanField(default=False)
    kill_reason = models.TextField(blank=True, default="")
    breaker = models.CharField(
        max_length=30, blank=True, default="", help_text="Which breaker tripped; empty when none."
    )
    breaker_reason = models.TextField(blank=True, default="")
    changed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"risk state of account {self.account_id}"


class GlobalRiskState(models.Model):
    """One row (pk 1): the kill switch for every account of every user."""

    kill_switch = models.BooleanField(default=False)
    kill_reason = models.TextField(blank=True, default="")
    changed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return "global kill switch " + ("ON" if self.kill_switch else "off")


class RiskDecision(models.Model):
    """One decision of the pre-trade gate: its inputs, every rule's verdict, the result."""

    account = models.ForeignKey(
        ExchangeAccount, on_delete=models.PROTECT, related_name="risk_decisions"
    )
    order = models.OneToOneField(
        "orders.Order",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="risk_decision",
    )
    approved = models.BooleanField()
    reason = models.TextField(blank=True, default="")
    proposal = models.JSONField()
    snapshot = models.JSONField()
    limits = models.JSONField()
    verdicts = models.JSONField()
    context = models.JSONField(default=dict, blank=True)
    actor = models.CharField(max_length=60)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{'approved' if self.approved else 'rejected'}: {self.reason or self.proposal}"


class RiskEvent(models.Model):
    """Audit of the kill switches and breakers: append-only."""

    account = models.ForeignKey(
        ExchangeAccount, on_delete=models.PROTECT, null=True, blank=True, related_name="risk_events"
    )
    type = models.CharField(max_length=40)  # kill_switch.on, breaker.tripped, ...
    reason = models.TextField(blank=True, default="")
    actor = models.CharField(max_length=60)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.type} ({self.account_id or 'global'})"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Risk events are append-only: they cannot be changed.")
        super().save(*args, **kwargs)
