"""The positions API's query parameters (common/filters.py says why they are strict)."""

from __future__ import annotations

import django_filters

from common.filters import IdFilter
from positions.models import Balance, Position


class PositionFilter(django_filters.FilterSet):
    account = IdFilter(field_name="account_id")
    status = django_filters.ChoiceFilter(choices=Position.Status.choices)
    symbol = django_filters.CharFilter()

    class Meta:
        model = Position
        fields = ["account", "status", "symbol"]


class BalanceFilter(django_filters.FilterSet):
    account = IdFilter(field_name="account_id")

    class Meta:
        model = Balance
        fields = ["account"]
