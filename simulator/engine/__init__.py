"""The matching engine and venue state (no I/O, no aiohttp): see ``exchange.Exchange``."""

from .exchange import AlgoRequest, Exchange, OrderRequest

__all__ = ["AlgoRequest", "Exchange", "OrderRequest"]
