from django.contrib import admin

from common.admin import ReadOnlyAdmin
from positions.models import Balance, Drift, Position, RealizedPnl


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = [
        "account",
        "symbol",
        "side",
        "status",
        "contracts",
        "entry_price",
        "mark_price",
        "unrealized_pnl",
        "realized_pnl",
        "last_synced_at",
    ]
    list_filter = ["status", "side", "source"]
    search_fields = ["symbol"]
    list_select_related = ["account"]


@admin.register(Balance)
class BalanceAdmin(ReadOnlyAdmin):
    list_display = ["account", "asset", "total", "free", "used", "synced_at"]
    list_select_related = ["account"]


@admin.register(Drift)
class DriftAdmin(ReadOnlyAdmin):
    list_display = ["detected_at", "account", "kind", "subject", "field", "ours", "theirs"]
    list_filter = ["kind"]
    list_select_related = ["account"]


@admin.register(RealizedPnl)
class RealizedPnlAdmin(ReadOnlyAdmin):
    list_display = ["realized_at", "account", "position", "amount", "asset"]
    list_select_related = ["account", "position"]
