"""The Celery app and the send task of the floor stack."""

from __future__ import annotations

import functools
import json
import os
import time

import django
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.stack_floor_site.settings")
django.setup()

from django.conf import settings  # noqa: E402 - after setup
from django.db import connection, transaction  # noqa: E402

SYMBOL = "BTC/USDT"
AMOUNT = 0.001

app = Celery("stack_floor")
# The platform's task settings (trading_site/settings/base.py), on the bench's broker.
app.conf.update(
    broker_url=settings.BROKER_URL,
    broker_connection_retry_on_startup=True,
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_default_queue="orders",
)
# As trading_site/celery.py: keep the worker's database connection between tasks (Celery's
# Django fixup would otherwise open a new one for every task).
app.conf["CELERY_DB_REUSE_MAX"] = 1_000_000_000


@functools.cache
def client(account: int):
    """One ccxt client per simulator account and process, markets loaded once - as the
    platform's worker keeps them."""
    from simulator.client import simulator_client

    key, secret = json.loads(os.environ["STACK_FLOOR_ACCOUNTS"])[account]
    exchange = simulator_client(
        settings.SIMULATOR_URL, market_type="spot", api_key=key, secret=secret
    )
    exchange.load_markets()
    return exchange


@app.task(name="stack_floor.process", queue="strategies")
def process(signal_id: int) -> None:
    """A signal's hop: claim it, store its order, queue the order's send on commit - the
    platform's ``strategies.signal_process`` with no sizing or risk gate."""
    started = time.time()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE floor_signal SET process_at = %s WHERE id = %s AND process_at IS NULL"
                " RETURNING account, price",
                [started, signal_id],
            )
            claimed = cursor.fetchone()
            if claimed is None:
                return
            cursor.execute(
                "INSERT INTO floor_order (account, price, view_at, signal_id)"
                " VALUES (%s, %s, %s, %s) RETURNING id",
                [*claimed, time.time(), signal_id],
            )
            order_id = cursor.fetchone()[0]
        transaction.on_commit(lambda: send.delay(order_id))


@app.task(name="stack_floor.send")
def send(order_id: int) -> None:
    """Claim the order (pending -> submitting), send it, mark it open."""
    started = time.time()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE floor_order SET status = 'submitting', task_at = %s"
            " WHERE id = %s AND status = 'pending' RETURNING account, price",
            [started, order_id],
        )
        claimed = cursor.fetchone()
    if claimed is None:
        return
    account, price = claimed
    sent = time.time()
    client(account).create_order(
        SYMBOL, "limit", "buy", AMOUNT, float(price), {"newClientOrderId": f"floor{order_id}"}
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE floor_order SET status = 'open', send_at = %s WHERE id = %s", [sent, order_id]
        )
