"""common.db.one_row: a written-out read that gives the ORM's own instance."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.models import ExchangeAccount
from common.db import one_row
from common.fields import SealedSecret
from orders.models import Order
from orders.tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


def test_the_row_comes_back_as_the_orm_builds_it(django_assert_num_queries):
    order = OrderFactory(price=Decimal("59000.5"), fees={"BNB": "0.001"})

    with django_assert_num_queries(1):
        read = one_row(Order, "id = %s AND account_id = %s", [order.pk, order.account_id])

    orm = Order.objects.get(pk=order.pk)
    assert read.pk == order.pk
    assert read.price == Decimal("59000.5")
    assert read.fees == {"BNB": "0.001"}
    assert read.created_at == orm.created_at and read.created_at.tzinfo is not None
    assert not read._state.adding
    # Field converters ran: a credential stays sealed, as the ORM hands it out.
    assert isinstance(
        one_row(ExchangeAccount, "id = %s", [order.account_id]).api_secret, SealedSecret
    )


def test_no_row_is_none():
    assert one_row(Order, "id = %s", [10**9]) is None


def test_an_id_beyond_64_bits_matches_nothing_without_asking_the_database(
    django_assert_num_queries,
):
    with django_assert_num_queries(0):
        assert one_row(Order, "id = %s", [10**20]) is None
