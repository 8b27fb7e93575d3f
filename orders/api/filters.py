"""The orders API's query parameters (common/filters.py says why they are strict)."""

from __future__ import annotations

import django_filters

from common.filters import AwareDateTimeFilter, ChoicesInFilter, IdFilter
from orders.models import Fill, Order
from orders.states import Status


class OrderFilter(django_filters.FilterSet):
    account = IdFilter(field_name="account_id")
    symbol = django_filters.CharFilter()
    status = ChoicesInFilter(
        choices=[(s.value, s.value) for s in Status], help_text="Any of these, comma-separated."
    )
    since = AwareDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = AwareDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ["account", "symbol", "status", "since", "until"]


class FillFilter(django_filters.FilterSet):
    account = IdFilter(field_name="account_id")
    symbol = django_filters.CharFilter()

    class Meta:
        model = Fill
        fields = ["account", "symbol"]
