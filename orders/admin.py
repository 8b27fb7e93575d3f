"""The place to audit every order: its timeline and fills, read-only."""

from __future__ import annotations

from django.contrib import admin, messages

from common.admin import ReadOnlyAdmin
from common.exceptions import ApplicationError
from orders import services
from orders.models import Fill, Order, OrderEvent
from orders.services.common import user_actor


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    fields = [
        "created_at",
        "type",
        "old_status",
        "new_status",
        "old_filled",
        "new_filled",
        "reason",
        "actor",
    ]
    readonly_fields = fields
    ordering = ["created_at", "pk"]


class FillInline(ReadOnlyInline):
    model = Fill
    fields = [
        "exchange_ts",
        "exchange_trade_id",
        "side",
        "price",
        "amount",
        "cost",
        "fee",
        "fee_asset",
        "is_maker",
    ]
    readonly_fields = fields


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = [
        "client_order_id",
        "account",
        "symbol",
        "side",
        "type",
        "amount",
        "price",
        "status",
        "filled",
        "average_price",
        "origin",
        "created_at",
    ]
    list_filter = ["status", "side", "type", "origin", "account__exchange_id", "created_at"]
    search_fields = ["client_order_id", "exchange_order_id", "symbol"]
    list_select_related = ["account"]
    date_hierarchy = "created_at"
    inlines = [OrderEventInline, FillInline]
    actions = ["cancel_orders"]

    def get_readonly_fields(self, request, obj=None):
        # Orders change through the order services only; the admin shows them.
        return [field.name for field in Order._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Cancel the selected orders (through the order service)")
    def cancel_orders(self, request, queryset):
        done = 0
        for order in queryset.order_by("pk"):
            try:
                services.order_cancel(order=order, actor=user_actor(request.user))
                done += 1
            except ApplicationError as exc:
                self.message_user(
                    request, f"{order.client_order_id}: {exc.message}", messages.WARNING
                )
        self.message_user(request, f"Cancel requested for {done} order(s).")


@admin.register(OrderEvent)
class OrderEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "order", "type", "old_status", "new_status", "actor"]
    list_filter = ["type", "actor"]
    search_fields = ["order__client_order_id", "order__exchange_order_id"]
    list_select_related = ["order"]


@admin.register(Fill)
class FillAdmin(ReadOnlyAdmin):
    list_display = [
        "exchange_ts",
        "account",
        "symbol",
        "side",
        "price",
        "amount",
        "fee",
        "fee_asset",
        "exchange_trade_id",
        "order",
    ]
    list_filter = ["side", "symbol"]
    search_fields = ["exchange_trade_id", "order__client_order_id"]
    list_select_related = ["account", "order"]
