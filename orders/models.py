from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import ExchangeAccount
from common.models import TimeStamped, money_field
from orders.states import TERMINAL, Status


class Order(TimeStamped):
    """One order on one exchange account, from our decision to its last fill.

    ``client_order_id`` is fixed when the order is stored and is what the venue knows
    it by before it answers: after an unknown outcome we ask the venue by this id
    before anything is sent again.
    """

    class Side(models.TextChoices):
        BUY = "buy", "Buy"
        SELL = "sell", "Sell"

    class Type(models.TextChoices):
        MARKET = "market", "Market"
        LIMIT = "limit", "Limit"
        STOP_MARKET = "stop_market", "Stop market"
        STOP_LIMIT = "stop_limit", "Stop limit"
        TAKE_PROFIT_MARKET = "take_profit_market", "Take profit market"
        TAKE_PROFIT_LIMIT = "take_profit_limit", "Take profit limit"

    class TimeInForce(models.TextChoices):
        GTC = "GTC", "Good till canceled"
        IOC = "IOC", "Immediate or cancel"
        FOK = "FOK", "Fill or kill"

    class Origin(models.TextChoices):
        SIGNAL = "signal", "Signal"
        API = "api", "API"
        DASHBOARD = "dashboard", "Dashboard"
        STRATEGY = "strategy", "Strategy"
        SYSTEM = "system", "System"
        EXTERNAL = "external", "Placed outside the platform"

    class GroupKind(models.TextChoices):
        NONE = "", "None"
        BRACKET = "bracket", "Bracket"
        OCO = "oco", "One cancels the other"

    class Role(models.TextChoices):
        SINGLE = "", "Single"
        ENTRY = "entry", "Entry"
        STOP_LOSS = "stop_loss", "Stop loss"
        TAKE_PROFIT = "take_profit", "Take profit"

    StatusChoices = models.TextChoices("StatusChoices", [(s.name, s.value) for s in Status])

    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="orders")
    symbol = models.CharField(max_length=40)
    side = models.CharField(max_length=4, choices=Side.choices)
    type = models.CharField(max_length=20, choices=Type.choices)
    time_in_force = models.CharField(max_length=3, choices=TimeInForce.choices, blank=True)
    amount = money_field()
    price = money_field(null=True, blank=True)
    stop_price = money_field(null=True, blank=True)
    reduce_only = models.BooleanField(default=False)
    post_only = models.BooleanField(default=False)

    client_order_id = models.CharField(max_length=36, unique=True)
    # NULL, not "": unique per account and symbol only once the venue has given one
    # (Binance numbers orders per symbol). For a conditional order: the order it placed
    # when it triggered - the one that trades.
    exchange_order_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    # A conditional order's own id on venues that keep them apart (Binance USD-M algo
    # orders): numbered separately from plain orders, so kept in a column of its own.
    exchange_algo_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    status = models.CharField(
        max_length=20, choices=StatusChoices.choices, default=Status.PENDING, db_index=True
    )
    status_reason = models.TextField(blank=True, default="")

    filled = money_field(default=0)
    remaining = money_field(null=True, blank=True)
    average_price = money_field(null=True, blank=True)
    cost = money_field(default=0)
    fees = models.JSONField(default=dict, blank=True, help_text="Fee paid per asset, as strings.")

    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    # The order this one replaced (an amendment by cancel-replace).
    replaces = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="replaced_by"
    )
    # The other order of a one-cancels-the-other pair.
    linked = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    group_kind = models.CharField(max_length=10, choices=GroupKind.choices, blank=True)
    role = models.CharField(max_length=12, choices=Role.choices, blank=True)
    # A bracket entry's protection, placed reduce-only for the filled amount as it fills.
    stop_loss_price = money_field(null=True, blank=True)
    take_profit_price = money_field(null=True, blank=True)

    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.API)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    send_attempts = models.PositiveSmallIntegerField(default=0)
    # When the order's next step (a send retry, a cancel retry, a lookup) is due. The
    # database, not the broker, is the source of truth: a sweep performs every step that
    # is overdue, so a countdown lost with a killed worker is only late, never lost.
    next_step_at = models.DateTimeField(null=True, blank=True)

    submitted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    exchange_created_at = models.DateTimeField(null=True, blank=True)
    exchange_updated_at = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(null=True, blank=True, help_text="The venue's last answer, as sent.")

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "symbol", "exchange_order_id"],
                condition=Q(exchange_order_id__isnull=False),
                name="order_exchange_id_unique_per_symbol",
            ),
            models.UniqueConstraint(
                fields=["account", "symbol", "exchange_algo_id"],
                condition=Q(exchange_algo_id__isnull=False),
                name="order_algo_id_unique_per_symbol",
            ),
            models.UniqueConstraint(
                fields=["account", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="order_idempotency_key_unique_per_account",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="order_amount_positive"),
            models.CheckConstraint(condition=Q(filled__gte=0), name="order_filled_not_negative"),
        ]
        indexes = [
            models.Index(fields=["account", "status"]),
            models.Index(fields=["account", "symbol", "-created_at"]),
            models.Index(
                fields=["next_step_at"],
                condition=Q(next_step_at__isnull=False),
                name="order_next_step_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.amount} {self.symbol} {self.type} [{self.status}]"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


class OrderEvent(models.Model):
    """One thing that happened to an order. Append-only: written once, never changed."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="events")
    type = models.CharField(max_length=40, db_index=True)
    old_status = models.CharField(max_length=20, blank=True)
    new_status = models.CharField(max_length=20, blank=True)
    old_filled = money_field(null=True, blank=True)
    new_filled = money_field(null=True, blank=True)
    old_remaining = money_field(null=True, blank=True)
    new_remaining = money_field(null=True, blank=True)
    old_price = money_field(null=True, blank=True)
    new_price = money_field(null=True, blank=True)
    fill = models.ForeignKey("Fill", on_delete=models.PROTECT, null=True, blank=True)
    reason = models.TextField(blank=True, default="")
    actor = models.CharField(
        max_length=60, help_text="Who or what caused it: user:3, worker, stream."
    )
    raw = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.type} {self.old_status}->{self.new_status}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Order events are append-only: they cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Order events are append-only: they cannot be deleted.")


class Fill(models.Model):
    """One trade of ours on the venue. Unique per (account, symbol, exchange trade id):
    Binance numbers trades per symbol, so BTC's trade 92 and SOL's trade 92 are two."""

    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="fills")
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, null=True, blank=True, related_name="fills"
    )
    exchange_trade_id = models.CharField(max_length=64)
    exchange_order_id = models.CharField(max_length=64, blank=True, default="")
    symbol = models.CharField(max_length=40)
    side = models.CharField(max_length=4, choices=Order.Side.choices)
    price = money_field()
    amount = money_field()
    cost = money_field()
    fee = money_field(default=0)
    fee_asset = models.CharField(max_length=20, blank=True, default="")
    is_maker = models.BooleanField(null=True)
    exchange_ts = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(null=True, blank=True)
    # How many times the venue reported this trade (the stream, polls, the order's own
    # answer): counted here rather than as an audit event per repeat.
    deliveries = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["exchange_ts", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "symbol", "exchange_trade_id"],
                name="fill_trade_id_unique_per_symbol",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "symbol", "exchange_ts"]),
            # Drift checks sum an account's fills between two exchange times.
            models.Index(fields=["account", "exchange_ts"], name="fill_account_exchange_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.amount} {self.symbol} @ {self.price}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Fills are facts from the venue: they cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Fills are facts from the venue: they cannot be deleted.")
