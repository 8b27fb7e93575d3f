"""Market data: candles stored once per venue, and what each user subscribed to.

A venue is where a price comes from: the exchange, its market type, and whether it is
the real market, a testnet or our simulator (each quotes its own prices). Paper
accounts trade the real market, so they read the live venue's data. ``venues.venue_of``
names the venue of an account.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from common.models import TimeStamped, money_field


class Candle(models.Model):
    """One OHLCV bar as the venue reported it. A forming bar (``closed`` false) is
    replaced when it closes; a closed one is final (a later copy of it is identical)."""

    venue = models.CharField(max_length=60)
    symbol = models.CharField(max_length=50)
    timeframe = models.CharField(max_length=5)
    open_time = models.DateTimeField()
    open = money_field()
    high = money_field()
    low = money_field()
    close = money_field()
    volume = money_field()
    closed = models.BooleanField(default=True)

    class Meta:
        constraints = [
            # Also the index for "the last N candles" (read backwards) and for a time
            # range: every read names venue, symbol and timeframe, then ranges on time.
            models.UniqueConstraint(
                fields=["venue", "symbol", "timeframe", "open_time"],
                name="candle_unique_per_venue_symbol_timeframe_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.venue} {self.symbol} {self.timeframe} {self.open_time:%Y-%m-%d %H:%M}"


class Subscription(TimeStamped):
    """A user's wish to see a stream: the ticker, the candles of one timeframe or the top
    of the book of one symbol on one venue. The streams process watches each distinct
    stream once, however many users subscribed to it."""

    class Kind(models.TextChoices):
        TICKER = "ticker", "Ticker"
        OHLCV = "ohlcv", "Candles"
        ORDERBOOK = "orderbook", "Order book"

    class Origin(models.TextChoices):
        PERSON = "person", "A person"
        STRATEGY = "strategy", "A strategy"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscriptions"
    )
    account = models.ForeignKey(
        "accounts.ExchangeAccount",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="subscriptions",
        help_text="Whose client reads the venue (public data needs no key, but the "
        "account names the exchange, its mode and market type).",
    )
    venue = models.CharField(max_length=60)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    symbol = models.CharField(max_length=50)
    timeframe = models.CharField(max_length=5, blank=True, default="", help_text="Candles only.")
    depth = models.PositiveSmallIntegerField(default=0, help_text="Book levels; books only.")
    interval_ms = models.PositiveIntegerField(
        default=1000, help_text="How often at most an update is taken (and the REST poll period)."
    )
    is_active = models.BooleanField(default=True)
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.PERSON)
    origin_ref = models.CharField(
        max_length=100, blank=True, default="", help_text="Which strategy, when one asked."
    )
    last_update_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            # Subscribing twice to one stream is one subscription.
            models.UniqueConstraint(
                fields=["owner", "venue", "kind", "symbol", "timeframe"],
                name="subscription_unique_per_owner_stream",
            ),
        ]
        indexes = [models.Index(fields=["is_active", "venue"])]

    def __str__(self) -> str:
        what = f"{self.kind} {self.timeframe}".strip()
        return f"{what} {self.symbol} on {self.venue}"
