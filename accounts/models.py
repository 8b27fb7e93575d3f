from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from common.fields import SecretCharField
from common.models import TimeStamped, money_field


class ExchangeAccount(TimeStamped):
    """One set of credentials on one exchange, owned by one user.

    The key, secret and passphrase are encrypted at rest and decrypted only by the
    gateway, in the process that calls the exchange. Only ``key_last4`` is ever shown.
    """

    class Mode(models.TextChoices):
        LIVE = "live", "Live"
        TESTNET = "testnet", "Testnet"
        SIMULATOR = "simulator", "Simulator"
        PAPER = "paper", "Paper"

    class MarketType(models.TextChoices):
        SPOT = "spot", "Spot"
        SWAP = "swap", "Perpetual swap"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="exchange_accounts"
    )
    exchange_id = models.CharField(max_length=50, help_text="ccxt exchange id, e.g. binance.")
    label = models.CharField(max_length=100)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.SIMULATOR)
    market_type = models.CharField(
        max_length=10, choices=MarketType.choices, default=MarketType.SPOT
    )
    api_key = SecretCharField(max_length=512, blank=True, default="")
    api_secret = SecretCharField(max_length=512, blank=True, default="")
    api_passphrase = SecretCharField(max_length=512, blank=True, default="")
    key_last4 = models.CharField(max_length=4, blank=True, default="", editable=False)
    can_trade = models.BooleanField(
        default=False, help_text="Orders may be sent from this account. Off: read-only."
    )
    is_active = models.BooleanField(default=True)
    # What the connection test read about the current key's permissions: when (None:
    # never, or the key changed since) and whether it can withdraw (None: the exchange
    # does not say). can_trade turns on only for a checked key that cannot withdraw, and
    # a key that can withdraw never trades (the send path refuses it too).
    key_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    key_can_withdraw = models.BooleanField(null=True, blank=True, editable=False)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)

    class ProtectionPolicy(models.TextChoices):
        ALERT = "alert", "Alert only"
        CLOSE = "close", "Alert and close the position"

    # What to do when the exchange refuses a stop-loss or take-profit that protects a
    # position. Alert by default: a refusal can be passing (a price moving through the
    # trigger), and closing at market is a decision a trader opts into.
    on_protection_refused = models.CharField(
        max_length=10,
        choices=ProtectionPolicy.choices,
        default=ProtectionPolicy.ALERT,
        help_text="When the exchange refuses a protective order: alert, or alert and close.",
    )

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "label"], name="account_label_unique_per_owner"
            ),
        ]
        indexes = [models.Index(fields=["owner", "is_active"])]

    def __str__(self) -> str:
        return f"{self.label} ({self.exchange_id} {self.mode} {self.market_type})"

    @property
    def data_venue(self) -> str:
        """Where this account's market data comes from: ``binance:spot`` for the real
        market (live and paper accounts), ``binance-testnet:swap`` for a testnet,
        ``simulator:spot`` for our simulator - each quotes its own prices, so their
        candles must never mix."""
        if self.mode == self.Mode.SIMULATOR:
            source = "simulator"
        elif self.mode == self.Mode.TESTNET:
            source = f"{self.exchange_id}-testnet"
        else:
            source = self.exchange_id
        return f"{source}:{self.market_type}"

    @property
    def masked_key(self) -> str:
        return f"****{self.key_last4}" if self.key_last4 else ""

    @property
    def needs_credentials(self) -> bool:
        return self.mode != self.Mode.PAPER

    @property
    def key_trade_refusal(self) -> str:
        """Why the current key may not switch trading on, or "" (the connection test
        found it cannot withdraw; paper accounts have no key)."""
        if not self.needs_credentials:
            return ""
        if self.key_can_withdraw:
            return (
                "This API key can withdraw funds: a key that can withdraw never trades. "
                "Create a key without withdrawal permission, save it, and run the "
                "connection test (POST /api/accounts/<id>/test/)."
            )
        if self.key_checked_at is None:
            return (
                "This API key's permissions have not been checked yet: run the connection "
                "test (POST /api/accounts/<id>/test/), then enable trading."
            )
        return ""

    def trading_refusal(self, *, reduce_only: bool = False) -> str:
        """Why no order of this account may go to the exchange now, or "". A key known
        to withdraw refuses everything; deactivation and can_trade off let reduce-only
        orders through (a bracket's protective orders must still go)."""
        if self.key_can_withdraw:
            return "its API key can withdraw funds: a key that can withdraw never trades"
        if reduce_only:
            return ""
        if not self.is_active:
            return f"account {self.label!r} is deactivated"
        if not self.can_trade:
            return f"account {self.label!r} is read-only (can_trade is off)"
        return ""


class ExchangeSyncState(models.Model):
    """Health of one kind of exchange traffic for an account (REST sync or a stream)."""

    class Kind(models.TextChoices):
        CONNECTION = "connection", "Connection check"
        BALANCES = "balances", "Balances"
        POSITIONS = "positions", "Positions"
        ORDERS = "orders", "Orders"
        TRADES = "trades", "Trades"
        MARKETS = "markets", "Markets"
        STREAM = "stream", "Websocket stream"

    account = models.ForeignKey(
        ExchangeAccount, on_delete=models.CASCADE, related_name="sync_states"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    consecutive_errors = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    ws_connected = models.BooleanField(default=False)
    ws_last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    ws_reconnects = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["account_id", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["account", "kind"], name="sync_state_unique_per_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}:{self.kind}"


class AccountGroup(TimeStamped):
    """Accounts that trade together; a group signal is split by each member's weight."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="account_groups"
    )
    name = models.CharField(max_length=100)
    accounts = models.ManyToManyField(ExchangeAccount, through="AccountGroupMember")

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="account_group_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class AccountGroupMember(models.Model):
    group = models.ForeignKey(AccountGroup, on_delete=models.CASCADE, related_name="members")
    account = models.ForeignKey(ExchangeAccount, on_delete=models.CASCADE)
    weight = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Share of the group's size, 0..1.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "account"], name="group_member_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.group_id}:{self.account_id} x{self.weight}"


class BalanceSnapshot(models.Model):
    """One asset's balance at one moment, for history and the equity curve."""

    account = models.ForeignKey(ExchangeAccount, on_delete=models.CASCADE, related_name="snapshots")
    asset = models.CharField(max_length=20)
    total = money_field()
    free = money_field()
    used = money_field()
    value_quote = money_field(null=True, blank=True)
    quote_asset = models.CharField(max_length=20, blank=True, default="")
    taken_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-taken_at"]
        indexes = [models.Index(fields=["account", "asset", "-taken_at"])]

    def __str__(self) -> str:
        return f"{self.account_id} {self.asset} {self.total} @ {self.taken_at:%Y-%m-%d %H:%M}"


class Alert(models.Model):
    """Something a person must look at: the platform could not keep its records or its
    protection as they should be (an order the exchange lost, a position left without
    its stop, a sync that keeps failing).

    One open alert per (account, kind, subject): a repeat counts on it instead of adding
    rows. Acknowledging closes it; the same problem later opens a new one.
    """

    class Severity(models.TextChoices):
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    account = models.ForeignKey(
        ExchangeAccount, on_delete=models.CASCADE, null=True, blank=True, related_name="alerts"
    )
    kind = models.CharField(max_length=60, help_text="Dotted, e.g. position.unprotected.")
    severity = models.CharField(max_length=10, choices=Severity.choices)
    subject = models.CharField(
        max_length=100, blank=True, default="", help_text="What it is about: a symbol, an order."
    )
    message = models.TextField()
    occurrences = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-last_seen_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "kind", "subject"],
                condition=models.Q(acknowledged_at__isnull=True),
                name="one_open_alert_per_subject",
            ),
        ]
        indexes = [models.Index(fields=["account", "acknowledged_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject}: {self.message[:60]}"

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None


class ApiToken(models.Model):
    """A key for the API (``Authorization: Token <key>``), made for one user.

    Only the key's SHA-256 is stored (the key is 160 random bits: a fast hash suffices,
    nothing to stretch) and its first characters, to recognise it by; the key itself is
    shown once, when made. It works until ``expires_at``, or until its user or an admin
    revokes it. Revoked tokens stay, for the record of who ended them when.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True, default="", help_text="What it is for.")
    prefix = models.CharField(max_length=8, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… {self.name}".strip()

    def state(self, now=None) -> str:
        if self.revoked_at is not None:
            return self.State.REVOKED
        if self.expires_at <= (now or timezone.now()):
            return self.State.EXPIRED
        return self.State.ACTIVE
