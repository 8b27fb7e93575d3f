from __future__ import annotations

from django.db import models
from django.db.models import Q

from accounts.models import ExchangeAccount
from common.models import TimeStamped, money_field


class Position(TimeStamped):
    """What an account holds in one symbol and direction.

    Derivatives (source ``exchange``): contracts, entry, mark, liquidation price,
    unrealized P&L, margin and leverage exactly as the exchange reports them, never
    recomputed; realized P&L is the exchange's per-trade figure, summed. Spot and paper
    (source ``fills``): the holding and its average cost from our own fills
    (positions.pnl); unrealized P&L is computed at the last price when it is shown.
    Every amount is in ``quote_asset`` (settlement asset for derivatives).
    """

    class Side(models.TextChoices):
        LONG = "long", "Long"
        SHORT = "short", "Short"

    class Source(models.TextChoices):
        EXCHANGE = "exchange", "Exchange (derivatives)"
        FILLS = "fills", "Our fills (spot, paper)"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="positions")
    symbol = models.CharField(max_length=40)
    side = models.CharField(max_length=5, choices=Side.choices)
    source = models.CharField(max_length=8, choices=Source.choices)
    status = models.CharField(max_length=6, choices=Status.choices, default=Status.OPEN)
    base_asset = models.CharField(max_length=20)
    quote_asset = models.CharField(max_length=20)

    contracts = money_field(default=0, help_text="Amount held (base units x contract size).")
    contract_size = money_field(null=True, blank=True)
    entry_price = money_field(null=True, blank=True, help_text="Average entry / average cost.")
    mark_price = money_field(null=True, blank=True)
    liquidation_price = money_field(null=True, blank=True)
    unrealized_pnl = money_field(null=True, blank=True)
    realized_pnl = money_field(default=0)
    margin = money_field(null=True, blank=True)
    leverage = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)
    notional = money_field(null=True, blank=True)

    class Protection(models.TextChoices):
        NONE = "none", "None placed"
        PROTECTED = "protected", "Stop-loss / take-profit placed"
        UNPROTECTED = "unprotected", "Refused by the exchange: unprotected"

    # Whether the platform's stop-loss / take-profit guard the position: set when a
    # bracket places them, "unprotected" (with the exchange's reason) when the exchange
    # refuses one, back to "none" when closing cancels them.
    protection = models.CharField(
        max_length=12, choices=Protection.choices, default=Protection.NONE
    )
    protection_reason = models.TextField(blank=True, default="")
    protection_changed_at = models.DateTimeField(null=True, blank=True)

    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["account_id", "symbol"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "symbol", "side"],
                condition=Q(status="open"),
                name="one_open_position_per_account_symbol_side",
            ),
            models.CheckConstraint(condition=Q(contracts__gte=0), name="position_contracts_ge_0"),
        ]
        indexes = [models.Index(fields=["account", "status"])]

    def __str__(self) -> str:
        return f"{self.side} {self.contracts} {self.symbol} [{self.status}]"

    @property
    def signed_contracts(self):
        return self.contracts if self.side == self.Side.LONG else -self.contracts


class RealizedPnl(models.Model):
    """P&L realized by one fill: from the exchange (derivatives) or average cost (spot)."""

    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="+")
    position = models.ForeignKey(
        Position, on_delete=models.PROTECT, null=True, blank=True, related_name="realized"
    )
    fill = models.OneToOneField("orders.Fill", on_delete=models.PROTECT, related_name="+")
    amount = money_field()
    asset = models.CharField(max_length=20)
    realized_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["realized_at", "pk"]
        indexes = [models.Index(fields=["account", "realized_at"])]

    def __str__(self) -> str:
        return f"{self.amount} {self.asset} @ {self.realized_at:%Y-%m-%d %H:%M}"


class FillCursor(models.Model):
    """The last fill of an account applied to its positions: fills apply once, in order."""

    account = models.OneToOneField(
        ExchangeAccount, on_delete=models.CASCADE, related_name="fill_cursor"
    )
    last_fill_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.account_id}: {self.last_fill_id}"


class Balance(models.Model):
    """One asset's current balance on an account, as last synced from the exchange."""

    account = models.ForeignKey(ExchangeAccount, on_delete=models.CASCADE, related_name="balances")
    asset = models.CharField(max_length=20)
    total = money_field()
    free = money_field()
    used = money_field()
    synced_at = models.DateTimeField()

    class Meta:
        ordering = ["account_id", "asset"]
        constraints = [
            models.UniqueConstraint(fields=["account", "asset"], name="one_balance_per_asset"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.total} {self.asset}"


class Drift(models.Model):
    """A difference between our records and the exchange that a sync had to correct."""

    account = models.ForeignKey(ExchangeAccount, on_delete=models.CASCADE, related_name="drifts")
    position = models.ForeignKey(
        Position, on_delete=models.SET_NULL, null=True, blank=True, related_name="drifts"
    )
    kind = models.CharField(max_length=20, help_text="position or balance")
    subject = models.CharField(max_length=60, help_text="Symbol or asset.")
    field = models.CharField(max_length=30)
    ours = models.CharField(max_length=60)
    theirs = models.CharField(max_length=60)
    detected_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-detected_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.subject}.{self.field}: ours {self.ours}, theirs {self.theirs}"


class AgreedFigure(models.Model):
    """The last figure of the exchange's that our fills agreed with: a spot asset's total
    or a derivative symbol's signed position, and the exchange time it was true at.

    Drift is judged against it: the exchange's next figure must equal this one plus the
    fills whose exchange time lies between the two. A balance or position update often
    arrives before the fill it includes (another stream, a poll): compared with "our last
    record plus the fills we have so far" that wrote a drift row and, once the fill came,
    its mirror image. Here the mismatch waits instead (``mismatch_since``) and becomes a
    drift row only when it outlasts DRIFT_CONFIRM_SECONDS - long enough for polling to
    bring any fill the stream lost.
    """

    class Kind(models.TextChoices):
        BALANCE = "balance", "Spot balance"
        POSITION = "position", "Derivative position"

    account = models.ForeignKey(ExchangeAccount, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    subject = models.CharField(max_length=60, help_text="Asset or symbol.")
    amount = money_field(help_text="Signed for positions.")
    as_of = models.DateTimeField(help_text="Exchange time the amount was true at.")
    mismatch_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "kind", "subject"], name="one_agreed_figure_per_subject"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.kind} {self.subject}: {self.amount} @ {self.as_of}"
