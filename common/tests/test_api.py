"""common.api: output serializers render exactly what DRF's ModelSerializer renders."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework import serializers

from accounts.tests.factories import UserFactory
from common.api import represent
from orders.api.serializers import FillOutput, OrderDetailOutput, OrderOutput
from orders.models import Order
from orders.tests.factories import FillFactory, OrderEventFactory, OrderFactory
from positions.api.serializers import PositionOutput
from positions.tests.factories import PositionFactory

pytestmark = pytest.mark.django_db


def drf(serializer_class, instance) -> dict:
    """What plain DRF renders for the same fields."""
    plain = type(
        "Plain",
        (serializers.ModelSerializer,),
        {
            **{
                name: field
                for name, field in serializer_class._declared_fields.items()
                if not isinstance(field, serializers.BaseSerializer)
            },
            "Meta": serializer_class.Meta,
        },
    )
    return plain(instance).data


def test_an_order_renders_as_drf_renders_it_with_every_field_set_or_empty():
    now = timezone.now()
    parent = OrderFactory()
    replaced = OrderFactory(account=parent.account)
    order = OrderFactory(
        account=parent.account,
        price=Decimal("59000.5"),
        stop_price=None,
        filled=Decimal("0.004"),
        average_price=Decimal("59000.123456789012345678"),
        fees={"BNB": "0.001"},
        parent=parent,
        replaces=replaced,
        linked=replaced,
        created_by=UserFactory(),
        exchange_order_id="123",
        submitted_at=now,
        closed_at=None,
        exchange_updated_at=now,
    )

    for instance in (order, Order.objects.get(pk=order.pk), parent):
        rendered = represent(OrderOutput, instance)
        assert rendered == drf(OrderOutput, instance)
        assert list(rendered) == OrderOutput.Meta.fields
    assert represent(OrderOutput, order)["price"] == "59000.500000000000000000"
    assert represent(OrderOutput, order)["replaces"] == replaced.pk
    assert represent(OrderOutput, parent)["parent"] is None


def test_fills_positions_and_nested_details_render_as_drf_renders_them():
    fill = FillFactory(fee=Decimal("0.25"), fee_asset="USDT", exchange_ts=timezone.now())
    OrderEventFactory(order=fill.order)
    position = PositionFactory()

    assert represent(FillOutput, fill) == drf(FillOutput, fill)
    assert represent(PositionOutput, position) == drf(PositionOutput, position)
    detail = OrderDetailOutput(fill.order).data
    assert detail["fills"] == [drf(FillOutput, fill)]
    assert [event["type"] for event in detail["events"]] == ["order.created"]
    assert {k: v for k, v in detail.items() if k not in ("events", "fills")} == drf(
        OrderOutput, fill.order
    )
