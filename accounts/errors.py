"""One classification of every ccxt error, used by every caller (DESIGN.md, "Errors").

The question each caller needs answered is not "which exception" but "what now":

- NOT_SENT: the venue refused before acting (rate limit): retry with backoff and jitter.
- UNKNOWN: the request may have reached the venue (timeout, network, 5xx): the order's
  state is unknown; reconcile by client order id, never send again blindly.
- REJECTED: the venue answered no (funds, invalid order, symbol, auth): final, no retry.
- NOT_FOUND: the venue does not know the order: ask it for the order's real state.
"""

from __future__ import annotations

import enum
import functools
import re
import sys
from dataclasses import dataclass


class Outcome(enum.StrEnum):
    NOT_SENT = "not_sent"
    UNKNOWN = "unknown"
    REJECTED = "rejected"
    NOT_FOUND = "not_found"


@dataclass(frozen=True, slots=True)
class ExchangeFailure:
    outcome: Outcome
    error: str  # the ccxt class name, e.g. "InsufficientFunds"
    message: str  # safe to store and show: signatures and keys removed

    @property
    def retryable(self) -> bool:
        return self.outcome is Outcome.NOT_SENT

    def __str__(self) -> str:
        return f"{self.error}: {self.message}"


@functools.cache
def _table() -> tuple[tuple[type[BaseException], Outcome], ...]:
    # Built on first use: ``import ccxt`` loads every exchange module (some 65 MB), which
    # the web process does without.
    import ccxt

    # Most specific first: RateLimitExceeded and DDoSProtection are NetworkError subclasses,
    # OrderNotFound is an InvalidOrder subclass.
    return (
        (ccxt.RateLimitExceeded, Outcome.NOT_SENT),
        (ccxt.DDoSProtection, Outcome.NOT_SENT),
        # -1021 "timestamp outside recvWindow": the venue rejected the request unread.
        (ccxt.InvalidNonce, Outcome.NOT_SENT),
        (ccxt.OrderNotFound, Outcome.NOT_FOUND),
        (ccxt.RequestTimeout, Outcome.UNKNOWN),
        (ccxt.ExchangeNotAvailable, Outcome.UNKNOWN),
        (ccxt.NetworkError, Outcome.UNKNOWN),
        (ccxt.InsufficientFunds, Outcome.REJECTED),
        (ccxt.InvalidOrder, Outcome.REJECTED),
        (ccxt.BadSymbol, Outcome.REJECTED),
        (ccxt.PermissionDenied, Outcome.REJECTED),
        (ccxt.AuthenticationError, Outcome.REJECTED),
        # Any other answer the venue gave as an error is a refusal; it will not change on
        # retry.
        (ccxt.ExchangeError, Outcome.REJECTED),
        # OperationFailed covers 503 with a JSON body, BadResponse, NullResponse: the
        # request went out and what happened is not known.
        (ccxt.OperationFailed, Outcome.UNKNOWN),
    )


def _outcome(exc: BaseException) -> Outcome:
    # A ccxt error can only exist once ccxt is imported: a process that never imported it
    # does not load it just to learn that a ValueError is none.
    if "ccxt" in sys.modules:
        for klass, mapped in _table():
            if isinstance(exc, klass):
                return mapped
    return Outcome.UNKNOWN


_SECRET_PATTERNS = (
    re.compile(r"(signature=)[^&\s\"']+", re.IGNORECASE),
    re.compile(r"(apiKey=|api_key=|X-MBX-APIKEY[\"']?:\s*[\"']?)[^&\s\"',}]+", re.IGNORECASE),
    re.compile(r"(listenKey=)[^&\s\"']+", re.IGNORECASE),
)
_MAX_MESSAGE = 500


def redact(text: str, *secrets: str) -> str:
    """Remove signatures, keys and the given secrets from ``text``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1[redacted]", text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text


def classify(exc: BaseException, *, secrets: tuple[str, ...] = ()) -> ExchangeFailure:
    """Map any exception raised around a ccxt call to what the caller must do next.

    Anything that is not a ccxt error (a bug, a socket error ccxt did not wrap) is
    UNKNOWN: when in doubt about an order, reconcile rather than resend.
    """
    outcome = _outcome(exc)
    message = redact(str(exc) or exc.__class__.__name__, *secrets)
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    return ExchangeFailure(outcome=outcome, error=type(exc).__name__, message=message)
