"""Binance request authentication: API key header, timestamp window, HMAC-SHA256 signature.

The signed payload is the exact query string or form body before ``&signature=`` (when the
signature is in the body, Binance prepends the query string). Checks run in Binance's
order - key, timestamp, signature - and answer with Binance's codes (-2014/-2015, -1021,
-1022) so that a signing regression in our platform fails loudly.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl

from aiohttp import web

from .. import errors
from ..engine.exchange import wall_clock_ms
from ..engine.model import ApiKey
from .context import exchange_of

MAX_RECV_WINDOW = 60_000
DEFAULT_RECV_WINDOW = 5_000
FUTURE_TOLERANCE_MS = 1_000  # Binance accepts timestamps up to 1 s ahead of its clock


def api_key_of(request: web.Request) -> ApiKey:
    header = request.headers.get("X-MBX-APIKEY")
    if not header:
        raise errors.bad_api_key_format()
    key = exchange_of(request).api_keys.get(header)
    if key is None:
        raise errors.bad_api_key()
    return key


async def public_params(request: web.Request) -> dict[str, str]:
    params = dict(request.query)
    if request.can_read_body:
        params.update(parse_qsl(await request.text(), keep_blank_values=True))
    return params


async def api_key_params(request: web.Request) -> tuple[dict[str, str], ApiKey]:
    """listenKey endpoints: the API key authenticates, nothing is signed."""
    key = api_key_of(request)
    return await public_params(request), key


async def signed_params(
    request: web.Request, *, trade: bool = False, futures: bool = False
) -> tuple[dict[str, str], ApiKey]:
    key = api_key_of(request)
    if (trade and not key.can_trade) or (futures and not key.can_futures):
        raise errors.bad_api_key()
    query = request.query_string
    body = await request.text() if request.can_read_body else ""
    params = dict(parse_qsl(query, keep_blank_values=True))
    if body:
        params.update(parse_qsl(body, keep_blank_values=True))

    timestamp = params.get("timestamp")
    if not timestamp:
        raise errors.mandatory_param("timestamp")
    try:
        sent_at = int(timestamp)
        recv_window = int(params.get("recvWindow") or DEFAULT_RECV_WINDOW)
    except ValueError:
        raise errors.illegal_param("timestamp") from None
    if recv_window > MAX_RECV_WINDOW:
        raise errors.BinanceError(-1131, "recvWindow must be less than 60000")
    # Authentication uses the wall clock even when the engine runs on a test clock:
    # the client signs with its own wall clock.
    now = wall_clock_ms()
    if sent_at < now - recv_window or sent_at > now + FUTURE_TOLERANCE_MS:
        raise errors.timestamp_outside_recv_window()

    if "signature=" in body:
        source, prefix = body, query
    else:
        source, prefix = query, ""
    index = source.rfind("signature=")
    if index < 0:
        raise errors.mandatory_param("signature")
    payload = source[: index - 1] if index > 0 else ""
    if prefix:
        payload = prefix + payload
    signature = source[index + len("signature=") :].split("&", 1)[0]
    expected = hmac.new(key.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise errors.bad_signature()
    return params, key
