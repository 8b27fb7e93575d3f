"""The matching engine and venue state (no I/O, no aiohttp): see ``exchange.Exchange``."""

from .exchange import (
    AlgoRequest,
    CancelReplaceResult,
    Exchange,
    OcoLegRequest,
    OcoRequest,
    OrderRequest,
)

__all__ = [
    "AlgoRequest",
    "CancelReplaceResult",
    "Exchange",
    "OcoLegRequest",
    "OcoRequest",
    "OrderRequest",
]
