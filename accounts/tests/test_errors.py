"""The one classification of ccxt errors (DESIGN.md, "Errors from the venue")."""

import ccxt
import pytest

from accounts.errors import Outcome, classify, redact


@pytest.mark.parametrize(
    ("exception", "outcome"),
    [
        (ccxt.RateLimitExceeded, Outcome.NOT_SENT),
        (ccxt.DDoSProtection, Outcome.NOT_SENT),
        (ccxt.InvalidNonce, Outcome.NOT_SENT),
        (ccxt.RequestTimeout, Outcome.UNKNOWN),
        (ccxt.NetworkError, Outcome.UNKNOWN),
        (ccxt.ExchangeNotAvailable, Outcome.UNKNOWN),
        (ccxt.OnMaintenance, Outcome.UNKNOWN),
        (ccxt.OperationFailed, Outcome.UNKNOWN),
        (ccxt.BadResponse, Outcome.UNKNOWN),
        (ccxt.InsufficientFunds, Outcome.REJECTED),
        (ccxt.InvalidOrder, Outcome.REJECTED),
        (ccxt.BadSymbol, Outcome.REJECTED),
        (ccxt.AuthenticationError, Outcome.REJECTED),
        (ccxt.PermissionDenied, Outcome.REJECTED),
        (ccxt.ExchangeError, Outcome.REJECTED),
        (ccxt.OrderNotFound, Outcome.NOT_FOUND),
        (ValueError, Outcome.UNKNOWN),
    ],
)
def test_every_ccxt_error_class_maps_to_what_the_caller_must_do(exception, outcome):
    failure = classify(exception("binance {}"))

    assert failure.outcome is outcome
    assert failure.error == exception.__name__
    assert failure.retryable is (outcome is Outcome.NOT_SENT)


def test_classified_messages_carry_no_signature_key_or_secret():
    exc = ccxt.RequestTimeout(
        "binance GET https://api.binance.com/api/v3/account?timestamp=1&recvWindow=10000"
        "&signature=9f8e7d6c5b4a&apiKey=AKIAEXAMPLEKEY request timed out (10000 ms) mysecretvalue"
    )

    message = classify(exc, secrets=("mysecretvalue",)).message

    assert "9f8e7d6c5b4a" not in message
    assert "AKIAEXAMPLEKEY" not in message
    assert "mysecretvalue" not in message
    assert "request timed out" in message


def test_redact_leaves_short_fragments_alone_to_avoid_mangling_messages():
    assert redact("order abc accepted", "ab") == "order abc accepted"


def test_long_messages_are_cut():
    message = classify(ccxt.ExchangeError("x" * 2000)).message

    assert len(message) == 500
