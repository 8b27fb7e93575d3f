"""The views of the floor stack: store a row, queue its task on commit."""

from __future__ import annotations

import json
import time

from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path

from bench.stack_floor_site.tasks import process, send


def _store_and_queue(request: HttpRequest, table: str, task, status: int) -> JsonResponse:
    entered = time.time()
    body = json.loads(request.body)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (account, price, view_at) VALUES (%s, %s, %s)"  # noqa: S608 - one of two names
                " RETURNING id",
                [body["account"], body["price"], entered],
            )
            row_id = cursor.fetchone()[0]
        transaction.on_commit(lambda: task.delay(row_id))
    return JsonResponse({"id": row_id}, status=status)


def place(request: HttpRequest) -> JsonResponse:
    """An order: stored, its send queued on commit."""
    return _store_and_queue(request, "floor_order", send, 201)


def alert(request: HttpRequest) -> JsonResponse:
    """A webhook's work: the signal stored, its processing queued on commit."""
    return _store_and_queue(request, "floor_signal", process, 202)


def ping(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


urlpatterns = [path("orders", place), path("signals", alert), path("ping", ping)]
