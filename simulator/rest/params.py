"""Parsing Binance request parameters into typed values, with Binance's error answers."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from .. import errors


def required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise errors.mandatory_param(name)
    return value


def optional_decimal(params: Mapping[str, str], name: str) -> Decimal | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise errors.BinanceError(
            -1100,
            f"Illegal characters found in parameter '{name}'; "
            "legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
        ) from None
    if not result.is_finite():
        raise errors.BinanceError(-1100, f"Illegal characters found in parameter '{name}'.")
    return result


def optional_int(params: Mapping[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.illegal_param(name) from None


def flag(params: Mapping[str, str], name: str) -> bool:
    return params.get(name, "").lower() == "true"


def limit(params: Mapping[str, str], default: int, maximum: int) -> int:
    value = optional_int(params, "limit")
    if value is None:
        return default
    return max(1, min(value, maximum))
