"""Binance error answers: one exception type carrying Binance's code, exact text and HTTP status.

ccxt matches the exact ``msg`` before the ``code`` (see EXCHANGE_SIMULATOR.md), so every
text here is copied verbatim from Binance; change one and a ccxt mapping silently changes.
"""

from __future__ import annotations


class BinanceError(Exception):
    """An error answered as ``{"code": <int>, "msg": <text>}`` with an HTTP status."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status

    def body(self) -> dict:
        return {"code": self.code, "msg": self.msg}


# Request validation and authentication (shared by spot and USD-M).
def too_many_requests() -> BinanceError:
    return BinanceError(
        -1003,
        "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
        "Please use WebSocket Streams for live updates to avoid polling the API.",
        429,
    )


def timestamp_outside_recv_window() -> BinanceError:
    return BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")


def bad_signature() -> BinanceError:
    return BinanceError(-1022, "Signature for this request is not valid.")


def bad_api_key_format() -> BinanceError:
    return BinanceError(-2014, "API-key format invalid.", 401)


def bad_api_key() -> BinanceError:
    return BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)


def mandatory_param(name: str) -> BinanceError:
    return BinanceError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def param_not_required(name: str) -> BinanceError:
    return BinanceError(-1106, f"Parameter '{name}' sent when not required.")


def illegal_param(name: str) -> BinanceError:
    return BinanceError(
        -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."
    )


def invalid_symbol() -> BinanceError:
    return BinanceError(-1121, "Invalid symbol.")


def invalid_interval() -> BinanceError:
    return BinanceError(-1120, "Invalid interval.")


def start_time_after_end_time() -> BinanceError:
    return BinanceError(-1023, "Start time is greater than end time.")


def filter_failure(name: str) -> BinanceError:
    return BinanceError(-1013, f"Filter failure: {name}")


def invalid_side() -> BinanceError:
    return BinanceError(-1117, "Invalid side.")


def invalid_order_type() -> BinanceError:
    return BinanceError(-1116, "Invalid orderType.")


def invalid_time_in_force() -> BinanceError:
    return BinanceError(-1115, "Invalid timeInForce.")


def unknown_order_on_cancel() -> BinanceError:
    return BinanceError(-2011, "Unknown order sent.")


def order_does_not_exist() -> BinanceError:
    return BinanceError(-2013, "Order does not exist.")


def unknown_listen_key() -> BinanceError:
    return BinanceError(-1125, "This listenKey does not exist.")


# Spot order rejections: all -2010 NEW_ORDER_REJECTED, told apart by their text.
def spot_insufficient_balance() -> BinanceError:
    return BinanceError(-2010, "Account has insufficient balance for requested action.")


def spot_duplicate_order() -> BinanceError:
    return BinanceError(-2010, "Duplicate order sent.")


def spot_would_match_and_take() -> BinanceError:
    return BinanceError(-2010, "Order would immediately match and take.")


def spot_stop_would_trigger() -> BinanceError:
    return BinanceError(-2010, "Stop price would trigger immediately.")


# Spot order lists (OCO).
def oco_order_type_rejected() -> BinanceError:
    return BinanceError(-1158, "Order type not supported in OCO.")


def oco_needs_contingent_order() -> BinanceError:
    return BinanceError(-1168, "At least one OCO order must be contingent.")


# Which kind of order a BUY or SELL OCO wants in each slot, and Binance's error when it is
# in the other one: (side, kind) -> (code, text).
_OCO_MISPLACED = {
    ("BUY", "LIMIT_MAKER"): (-1165, "A limit order in a buy OCO must be below."),
    ("SELL", "LIMIT_MAKER"): (-1166, "A limit order in a sell OCO must be above."),
    ("BUY", "STOP_LOSS"): (-1196, "A stop loss order in a buy OCO must be above."),
    ("SELL", "STOP_LOSS"): (-1197, "A stop loss order in a sell OCO must be below."),
    ("BUY", "TAKE_PROFIT"): (-1198, "A take profit order in a buy OCO must be below."),
    ("SELL", "TAKE_PROFIT"): (-1199, "A take profit order in a sell OCO must be above."),
}


def oco_order_misplaced(side: str, kind: str) -> BinanceError:
    """``kind`` is LIMIT_MAKER, STOP_LOSS or TAKE_PROFIT (the _LIMIT variants share a text)."""
    return BinanceError(*_OCO_MISPLACED[(side, kind)])


def oco_price_relationship() -> BinanceError:
    return BinanceError(-2010, "The relationship of the prices for the orders is not correct.")


# USD-M order rejections.
def futures_margin_insufficient() -> BinanceError:
    return BinanceError(-2019, "Margin is insufficient.")


def futures_would_trigger() -> BinanceError:
    return BinanceError(-2021, "Order would immediately trigger.")


def futures_reduce_only_rejected() -> BinanceError:
    return BinanceError(-2022, "ReduceOnly Order is rejected.")


def futures_duplicate_client_id() -> BinanceError:
    return BinanceError(-4116, "ClientOrderId is duplicated.")


def futures_invalid_leverage(leverage: str) -> BinanceError:
    return BinanceError(-4028, f"Leverage {leverage} is not valid")


def futures_fok_rejected() -> BinanceError:
    return BinanceError(
        -5021, "Due to the order could not be filled immediately, the FOK order has been rejected."
    )


def futures_post_only_rejected() -> BinanceError:
    return BinanceError(
        -5022,
        "Due to the order could not be executed as maker, the Post Only order will be rejected.",
    )


def futures_min_notional(minimum: str) -> BinanceError:
    return BinanceError(
        -4164,
        f"Order's notional must be no smaller than {minimum} (unless you choose reduce only).",
    )


def futures_algo_type_required() -> BinanceError:
    return BinanceError(
        -4120,
        "Order type not supported for this endpoint. Please use the Algo Order API endpoints "
        "instead.",
    )
