from django.contrib import admin

from marketdata.models import Candle, Subscription


@admin.register(Candle)
class CandleAdmin(admin.ModelAdmin):
    """Read-only: candles are the venue's record, written by backfill and the streams."""

    list_display = ("venue", "symbol", "timeframe", "open_time", "open", "high", "low", "close")
    list_display += ("volume", "closed")
    list_filter = ("venue", "timeframe", "closed")
    search_fields = ("symbol",)
    date_hierarchy = "open_time"
    ordering = ("-open_time",)
    show_full_result_count = False  # a count over millions of rows costs more than the page

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("pk", "owner", "venue", "kind", "symbol", "timeframe", "depth")
    list_display += ("interval_ms", "is_active", "origin", "last_update_at", "last_error_at")
    list_filter = ("is_active", "kind", "venue", "origin")
    list_select_related = ("owner",)
    search_fields = ("symbol", "owner__username", "origin_ref")
    raw_id_fields = ("owner", "account")
    readonly_fields = ("last_update_at", "last_error", "last_error_at", "created_at")
