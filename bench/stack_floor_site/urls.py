"""The one view of the floor stack: store the order, queue its send on commit."""

from __future__ import annotations

import json
import time

from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path

from bench.stack_floor_site.tasks import process, send


def place(request: HttpRequest) -> JsonResponse:
    entered = time.time()
    body = json.loads(request.body)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO floor_order (account, price, view_at) VALUES (%s, %s, %s)"
                " RETURNING id",
                [body["account"], body["price"], entered],
            )
            order_id = cursor.fetchone()[0]
        transaction.on_commit(lambda: send.delay(order_id))
    return JsonResponse({"id": order_id}, status=201)


def alert(request: HttpRequest) -> JsonResponse:
    """A webhook's work: store the signal, queue its processing on commit."""
    entered = time.time()
    body = json.loads(request.body)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO floor_signal (account, price, view_at) VALUES (%s, %s, %s)"
                " RETURNING id",
                [body["account"], body["price"], entered],
            )
            signal_id = cursor.fetchone()[0]
        transaction.on_commit(lambda: process.delay(signal_id))
    return JsonResponse({"id": signal_id}, status=202)


def ping(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


urlpatterns = [path("orders", place), path("signals", alert), path("ping", ping)]
