"""Load through the public API only: orders (market, limit, brackets), cancels, amends,
closes - each create with an ``Idempotency-Key``, some sent twice as a client retrying."""

from __future__ import annotations

import http.client
import json
import random
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

# Symbols per market type and the amount each order trades (a few tens of USDT).
SYMBOLS = {
    "spot": {"BTC/USDT": Decimal("0.001"), "ETH/USDT": Decimal("0.02")},
    "swap": {"BTC/USDT:USDT": Decimal("0.002"), "ETH/USDT:USDT": Decimal("0.05")},
}


@dataclass
class Tally:
    """What the API answered, and the orders it accepted (201) by id."""

    answers: Counter = field(default_factory=Counter)
    accepted: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, operation: str, status: int) -> None:
        with self.lock:
            self.answers[f"{operation} {status}"] += 1


class Api:
    """One keep-alive connection to the web process; reconnects when web was killed."""

    def __init__(self, port: int, token: str):
        self.port = port
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        """(status, parsed body); status 0 when web did not answer (killed, restarting)."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            self.conn.request(
                method,
                path,
                body=json.dumps(body) if body is not None else None,
                headers={**self.headers, **(headers or {})},
            )
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            return 0, None
        try:
            return response.status, json.loads(data) if data else None
        except ValueError:
            return response.status, data[:200]


class Load:
    """Random operations on the soak's accounts. ``prices`` gives the current mid per
    (market type, symbol), read from the simulator by the caller."""

    def __init__(self, api: Api, accounts: dict[int, str], prices, rng: random.Random):
        self.api = api
        self.accounts = accounts  # our account id -> market type
        self.prices = prices
        self.rng = rng
        self.tally = Tally()
        self.created: list[int] = []

    def step(self) -> None:
        roll = self.rng.random()
        if roll < 0.55 or not self.created:
            self.create()
        elif roll < 0.75:
            self.on_order("cancel", {})
        elif roll < 0.85:
            self.amend()
        elif roll < 0.92:
            self.close_a_position()
        else:
            self.create(retry=True)

    def create(self, *, retry: bool = False) -> None:
        account = self.rng.choice(list(self.accounts))
        market_type = self.accounts[account]
        symbol = self.rng.choice(list(SYMBOLS[market_type]))
        amount = SYMBOLS[market_type][symbol]
        mid = self.prices(market_type, symbol)
        side = self.rng.choice(("buy", "sell"))
        body = {"account": account, "symbol": symbol, "side": side, "amount": str(amount)}
        kind = self.rng.random()
        if kind < 0.35:
            body["type"] = "market"
        else:
            # Near the market: some fill as it moves, some rest and get cancelled or amended.
            offset = Decimal(str(self.rng.uniform(-0.002, 0.004)))
            sign = -1 if side == "buy" else 1
            body["type"] = "limit"
            body["price"] = str((mid * (1 + sign * offset)).quantize(Decimal("0.01")))
        if kind > 0.8:
            reference = Decimal(body.get("price", mid))
            away = Decimal("0.01")
            low = (reference * (1 - away)).quantize(Decimal("0.01"))
            high = (reference * (1 + away)).quantize(Decimal("0.01"))
            body["stop_loss_price"], body["take_profit_price"] = (
                (str(low), str(high)) if side == "buy" else (str(high), str(low))
            )
        key = {"Idempotency-Key": f"soak-{uuid.UUID(int=self.rng.getrandbits(128))}"}
        status, answer = self.api.call("POST", "/api/orders/", body, key)
        if retry or status == 0:
            # A client that did not hear the answer sends the same request again.
            status, answer = self.api.call("POST", "/api/orders/", body, key)
        self.tally.count("create", status)
        if status in (200, 201) and isinstance(answer, dict) and "id" in answer:
            with self.tally.lock:
                self.tally.accepted.add(answer["id"])
            self.created.append(answer["id"])

    def on_order(self, action: str, body: dict) -> None:
        order_id = self.rng.choice(self.created[-200:])
        status, _ = self.api.call("POST", f"/api/orders/{order_id}/{action}/", body)
        self.tally.count(action, status)

    def amend(self) -> None:
        order_id = self.rng.choice(self.created[-200:])
        status, order = self.api.call("GET", f"/api/orders/{order_id}/")
        if status != 200 or not isinstance(order, dict) or order.get("type") != "limit":
            self.tally.count("amend-skipped", status)
            return
        price = Decimal(order["price"]) * Decimal(str(self.rng.uniform(0.998, 1.002)))
        status, _ = self.api.call(
            "POST",
            f"/api/orders/{order_id}/amend/",
            {"price": str(price.quantize(Decimal("0.01")))},
        )
        self.tally.count("amend", status)

    def close_a_position(self) -> None:
        status, page = self.api.call("GET", "/api/positions/?status=open")
        rows = page.get("results", []) if isinstance(page, dict) else []
        if status != 200 or not rows:
            self.tally.count("close-skipped", status)
            return
        position = self.rng.choice(rows)
        status, answer = self.api.call("POST", f"/api/positions/{position['id']}/close/", {})
        self.tally.count("close", status)
        if status in (200, 201, 202) and isinstance(answer, dict) and "id" in answer:
            with self.tally.lock:
                self.tally.accepted.add(answer["id"])
