"""The websocket endpoints: market streams, listenKey user-data streams, the websocket API.

Market-stream requests (``SUBSCRIBE``, ``UNSUBSCRIBE``, ``LIST_SUBSCRIPTIONS``, Binance's
stream protocol) are answered ``{"result": ..., "id": ...}``; websocket-API requests
``{"id", "status", "result"}`` or ``{"id", "status", "error": {"code", "msg"}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from .. import errors
from ..config import FUTURES, SPOT
from ..engine.exchange import wall_clock_ms
from ..engine.model import ApiKey
from ..rest.auth import DEFAULT_RECV_WINDOW, FUTURE_TOLERANCE_MS, MAX_RECV_WINDOW
from ..rest.context import simulator_of
from .hub import API, MARKET, USER, Connection, Hub, dumps, pump

logger = logging.getLogger(__name__)

HUB = web.AppKey("ws_hub", Hub)
CLOSE_TIMEOUT = 2.0  # seconds the server waits for the client's close frame
MAX_STREAMS_PER_CONNECTION = 1024  # Binance's limit per connection


def hub_of(request: web.Request) -> Hub:
    return request.app[HUB]


async def _serve(
    request: web.Request,
    *,
    kind: str,
    venue: str,
    account_id: str | None = None,
    streams: list[str] | None = None,
) -> web.WebSocketResponse:
    hub = hub_of(request)
    ws = web.WebSocketResponse(compress=False, timeout=CLOSE_TIMEOUT)
    await ws.prepare(request)
    conn = hub.open(ws, request, kind=kind, venue=venue)
    if account_id is not None:
        hub.subscribe_user(conn, account_id, None)
    if streams:
        hub.subscribe_streams(conn, streams)
    sender = asyncio.create_task(pump(conn))
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            if kind == API:
                _api_request(request, hub, conn, msg.data)
            else:
                _stream_request(hub, conn, msg.data)
    finally:
        hub.close(conn)
        # Let the pump flush what was queued before the close, unless the socket is gone.
        if ws.closed:
            sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(sender, 1)
    return ws


# ---------------------------------------------------------------------- market streams
def _stream_request(hub: Hub, conn: Connection, text: str) -> None:
    try:
        data = json.loads(text)
    except ValueError as exc:
        hub.push(conn, dumps({"error": {"code": 3, "msg": f"Invalid JSON: {exc}"}, "id": None}))
        return
    if not isinstance(data, dict):
        hub.push(conn, dumps({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None}))
        return
    request_id = data.get("id")
    method = data.get("method")
    params = data.get("params") or []
    if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            hub.push(
                conn,
                dumps(
                    {
                        "error": {"code": 2, "msg": "Invalid request: params must be streams"},
                        "id": request_id,
                    }
                ),
            )
            return
        if method == "SUBSCRIBE":
            if len(conn.streams | set(params)) > MAX_STREAMS_PER_CONNECTION:
                hub.push(
                    conn,
                    dumps(
                        {
                            "error": {"code": 2, "msg": "Invalid request: too many streams"},
                            "id": request_id,
                        }
                    ),
                )
                return
            # Acknowledge before the first event of the new streams can be queued.
            hub.push(conn, dumps({"result": None, "id": request_id}))
            hub.subscribe_streams(conn, params)
        else:
            hub.unsubscribe_streams(conn, params)
            hub.push(conn, dumps({"result": None, "id": request_id}))
    elif method == "LIST_SUBSCRIPTIONS":
        hub.push(conn, dumps({"result": sorted(conn.streams), "id": request_id}))
    elif method == "SET_PROPERTY":
        hub.push(conn, dumps({"result": None, "id": request_id}))
    elif method == "GET_PROPERTY":
        hub.push(conn, dumps({"result": False, "id": request_id}))
    else:
        hub.push(
            conn,
            dumps(
                {
                    "error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"},
                    "id": request_id,
                }
            ),
        )


def _initial_streams(stream: str) -> list[str] | None:
    """``/ws/<n>`` is a bare connection; ``/ws/btcusdt@trade/...`` subscribes on connect."""
    if stream.isdigit():
        return []
    if "@" in stream or stream.startswith("!"):
        return [s for s in stream.split("/") if s]
    return None  # a listenKey


def _account_of_listen_key(request: web.Request, listen_key: str | None) -> str:
    account_id = simulator_of(request).exchange.listen_keys.get(listen_key or "")
    if account_id is None:
        raise errors.unknown_listen_key()
    return account_id


async def spot_stream(request: web.Request) -> web.StreamResponse:
    """``/ws/spot/<n>`` (market streams) or ``/ws/spot/<listenKey>`` (legacy user data)."""
    stream = request.match_info["stream"]
    streams = _initial_streams(stream)
    if streams is None:
        account_id = _account_of_listen_key(request, stream)
        return await _serve(request, kind=USER, venue=SPOT, account_id=account_id)
    return await _serve(request, kind=MARKET, venue=SPOT, streams=streams)


async def linear_stream(request: web.Request) -> web.StreamResponse:
    """``/ws/linear/{market,public}/ws/<n>`` and the legacy ``/ws/linear/ws/<n|listenKey>``."""
    stream = request.match_info["stream"]
    streams = _initial_streams(stream)
    if streams is None:
        if request.match_info.get("category"):
            raise web.HTTPNotFound()
        account_id = _account_of_listen_key(request, stream)
        return await _serve(request, kind=USER, venue=FUTURES, account_id=account_id)
    return await _serve(request, kind=MARKET, venue=FUTURES, streams=streams)


async def linear_private(request: web.Request) -> web.StreamResponse:
    """``/ws/linear/private/ws?listenKey=K``: ORDER_TRADE_UPDATE, ALGO_UPDATE, ACCOUNT_UPDATE."""
    account_id = _account_of_listen_key(request, request.query.get("listenKey"))
    return await _serve(request, kind=USER, venue=FUTURES, account_id=account_id)


# ---------------------------------------------------------------------- websocket API
def verify_signature(request: web.Request, params: dict[str, Any]) -> ApiKey:
    """Binance's websocket-API signature: HMAC-SHA256 of the key-sorted ``k=v&...`` of
    every parameter but ``signature``; the same key, timestamp and signature checks (and
    error codes) as REST."""
    api_key = params.get("apiKey")
    if not api_key:
        raise errors.mandatory_param("apiKey")
    key = simulator_of(request).exchange.api_keys.get(str(api_key))
    if key is None:
        raise errors.bad_api_key()
    timestamp = params.get("timestamp")
    if timestamp is None:
        raise errors.mandatory_param("timestamp")
    try:
        sent_at = int(timestamp)
        recv_window = int(params.get("recvWindow") or DEFAULT_RECV_WINDOW)
    except (TypeError, ValueError):
        raise errors.illegal_param("timestamp") from None
    if recv_window > MAX_RECV_WINDOW:
        raise errors.BinanceError(-1131, "recvWindow must be less than 60000")
    now = wall_clock_ms()
    if sent_at < now - recv_window or sent_at > now + FUTURE_TOLERANCE_MS:
        raise errors.timestamp_outside_recv_window()
    signature = params.get("signature")
    if not signature:
        raise errors.mandatory_param("signature")
    payload = "&".join(
        f"{k}={_param_text(v)}" for k, v in sorted(params.items()) if k != "signature"
    )
    expected = hmac.new(key.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, str(signature).lower()):
        raise errors.bad_signature()
    return key


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _api_request(request: web.Request, hub: Hub, conn: Connection, text: str) -> None:
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        hub.push(
            conn,
            dumps(
                {
                    "id": None,
                    "status": 400,
                    "error": {"code": -1000, "msg": "Malformed request."},
                }
            ),
        )
        return
    request_id = data.get("id")
    method = data.get("method")
    params = data.get("params") or {}
    try:
        if not isinstance(params, dict):
            raise errors.BinanceError(-1000, "Malformed request.")
        result, then = _api_call(request, hub, conn, str(method), params)
    except errors.BinanceError as exc:
        hub.push(
            conn,
            dumps(
                {
                    "id": request_id,
                    "status": exc.status,
                    "error": {"code": exc.code, "msg": exc.msg},
                }
            ),
        )
        return
    hub.push(conn, dumps({"id": request_id, "status": 200, "result": result}))
    if then is not None:
        then()  # e.g. start a subscription: its events follow the answer, never precede it


def _api_call(
    request: web.Request, hub: Hub, conn: Connection, method: str, params: dict[str, Any]
) -> tuple[Any, Callable[[], None] | None]:
    """One websocket-API method: (result, what to do once the answer is queued)."""
    if method == "ping":
        return {}, None
    if method == "time":
        return {"serverTime": wall_clock_ms()}, None
    if conn.venue == SPOT and method == "userDataStream.subscribe.signature":
        key = verify_signature(request, params)
        sub_id = conn.next_subscription_id
        conn.next_subscription_id += 1
        return {"subscriptionId": sub_id}, lambda: hub.subscribe_user(conn, key.account_id, sub_id)
    if conn.venue == SPOT and method == "userDataStream.unsubscribe":
        if "subscriptionId" in params:
            try:
                sub_id = int(params["subscriptionId"])
            except (TypeError, ValueError):
                raise errors.illegal_param("subscriptionId") from None
            if not hub.unsubscribe_user(conn, sub_id):
                raise errors.BinanceError(-2, "Not subscribed to the specified subscription.")
        else:
            for sub_id in [k for k in conn.subscriptions if k is not None]:
                hub.unsubscribe_user(conn, sub_id)
        return {}, None
    if conn.venue == SPOT and method == "session.subscriptions":
        ids = sorted(k for k in conn.subscriptions if k is not None)
        return [{"subscriptionId": k} for k in ids], None
    raise errors.BinanceError(-1000, f"The simulator does not implement method '{method}'.")


async def spot_api(request: web.Request) -> web.StreamResponse:
    """``/ws-api/v3``: the spot websocket API (user data via ``userDataStream.*``)."""
    return await _serve(request, kind=API, venue=SPOT)


async def futures_api(request: web.Request) -> web.StreamResponse:
    """``/ws-fapi/v1``: the USD-M websocket API - ``ping`` and ``time`` only (ccxt 4.5.90
    takes USD-M user data from the listenKey stream, not from here)."""
    return await _serve(request, kind=API, venue=FUTURES)


# ---------------------------------------------------------------------- control API
async def control_state(request: web.Request) -> web.Response:
    """``GET /_sim/ws``: open connections, by path, with what each listens to."""
    hub = request.app.get(HUB)
    stats = hub.stats() if hub is not None else {"count": 0, "connections": []}
    return web.json_response(stats)


async def control_drop(request: web.Request) -> web.Response:
    """``POST /_sim/ws/drop {"account_id"?, "path"?, "mode"?: "close"|"abort"}``."""
    data: dict[str, Any] = {}
    if request.can_read_body:
        try:
            data = await request.json()
        except ValueError:
            data = None  # type: ignore[assignment]
    if not isinstance(data, dict):
        return web.json_response({"error": "body must be a JSON object"}, status=400)
    mode = data.get("mode", "close")
    if mode not in ("close", "abort"):
        return web.json_response({"error": "mode must be 'close' or 'abort'"}, status=400)
    hub = request.app.get(HUB)
    dropped = 0
    if hub is not None:
        dropped = await hub.drop(
            account_id=data.get("account_id"), path=data.get("path"), mode=mode
        )
    return web.json_response({"dropped": dropped})


def after_reset(request: web.Request) -> None:
    """Close the websockets of the venue ``/_sim/reset`` just replaced."""
    hub = request.app.get(HUB)
    if hub is not None:
        hub.check_reset()


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/ws/spot/{stream}", spot_stream)
    r.add_get("/ws/linear/private/ws", linear_private)
    r.add_get("/ws/linear/{category:market|public}/ws/{stream}", linear_stream)
    r.add_get("/ws/linear/ws/{stream}", linear_stream)
    r.add_get("/ws-api/v3", spot_api)
    r.add_get("/ws-fapi/v1", futures_api)
