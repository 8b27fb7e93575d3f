"""Reads for the orders app, scoped to the requesting user."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from orders.models import Fill, Order, OrderEvent


def order_list(*, user, filters: dict | None = None) -> QuerySet[Order]:
    orders = Order.objects.filter(account__owner=user)
    filters = filters or {}
    if account := filters.get("account"):
        orders = orders.filter(account_id=account)
    if symbol := filters.get("symbol"):
        orders = orders.filter(symbol=symbol)
    if status := filters.get("status"):
        orders = orders.filter(status__in=status.split(","))
    if since := filters.get("since"):
        orders = orders.filter(created_at__gte=since)
    if until := filters.get("until"):
        orders = orders.filter(created_at__lt=until)
    return orders


def order_detail_queryset(*, user) -> QuerySet[Order]:
    return Order.objects.filter(account__owner=user).prefetch_related(
        Prefetch("events", queryset=OrderEvent.objects.order_by("created_at", "pk")),
        Prefetch("fills", queryset=Fill.objects.order_by("exchange_ts", "pk")),
    )
