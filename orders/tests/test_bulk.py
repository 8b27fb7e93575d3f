"""orders.services.bulk.copy_insert: what bulk_create would store, however it is sent."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from orders.models import Fill, OrderEvent
from orders.services.bulk import copy_insert
from orders.tests.factories import FillFactory, OrderFactory

pytestmark = pytest.mark.django_db

AWKWARD = 'tab\there, newline\nthere, back\\slash, "quotes", \\N, \u20ac'


def new_fills(order, count: int) -> list[Fill]:
    return [
        Fill(
            account=order.account,
            order=order,
            exchange_trade_id=f"t{n}",
            exchange_order_id=AWKWARD,
            symbol="BTC/USDT",
            side="buy",
            price=Decimal("60000.12345678"),
            amount=Decimal("0.001"),
            cost=Decimal("60.00012345678"),
            fee=Decimal(0),
            fee_asset="USDT",
            is_maker=None if n else True,
            exchange_ts=timezone.now() if n else None,
            raw={"id": n, "note": AWKWARD, "nested": [None, 1.5]} if n else None,
        )
        for n in range(count)
    ]


def test_rows_are_stored_as_given_in_order_and_the_objects_get_their_ids():
    order = OrderFactory()
    fills = new_fills(order, 3)

    copy_insert(fills)

    assert all(fill.pk for fill in fills)
    assert [fill.pk for fill in fills] == sorted(fill.pk for fill in fills)
    assert not any(fill._state.adding for fill in fills)
    stored = list(Fill.objects.filter(order=order).order_by("pk"))
    fields = [f.attname for f in Fill._meta.concrete_fields if f.name != "created_at"]
    assert [[getattr(f, name) for name in fields] for f in stored] == [
        [getattr(f, name) for name in fields] for f in fills
    ]
    assert stored[0].created_at is not None
    assert stored[1].raw["note"] == AWKWARD


def test_an_event_takes_the_id_of_a_fill_inserted_after_the_event_was_made():
    order = OrderFactory()
    fills = new_fills(order, 2)
    events = [OrderEvent(order=order, type="order.fill", actor="test", fill=f) for f in fills]

    copy_insert(fills)
    copy_insert(events, ids=False)

    assert sorted(
        OrderEvent.objects.filter(order=order).values_list("fill_id", flat=True)
    ) == sorted(fill.pk for fill in fills)


def test_a_duplicate_trade_fails_the_insert_and_stores_nothing():
    order = OrderFactory()
    FillFactory(order=order, account=order.account, exchange_trade_id="t1")
    fills = new_fills(order, 3)

    with pytest.raises(IntegrityError), transaction.atomic():
        copy_insert(fills)

    assert list(Fill.objects.filter(order=order).values_list("exchange_trade_id", flat=True)) == [
        "t1"
    ]
    assert [fill.pk for fill in fills] == [None, None, None]
