from django.contrib import admin, messages

from common.admin import ReadOnlyAdmin
from strategies import services
from strategies.models import Signal, SignalSource, Strategy


@admin.register(Strategy)
class StrategyAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "account", "enabled"]
    list_select_related = ["owner", "account"]


@admin.register(SignalSource)
class SignalSourceAdmin(admin.ModelAdmin):
    """The webhook secret is never shown: "New secret" makes one and shows it once."""

    list_display = ["name", "owner", "kind", "account", "min_confidence", "enabled"]
    list_select_related = ["owner", "account"]
    exclude = ["secret_hash"]
    actions = ["new_secret"]

    @admin.action(description="New webhook secret (shown once)")
    def new_secret(self, request, queryset):
        for source in queryset:
            secret = services.source_set_secret(source=source)
            self.message_user(
                request,
                f"{source.name}: URL /api/webhooks/tradingview/{source.pk}/ - secret {secret} "
                "(put it in the alert message; it is not shown again).",
                messages.WARNING,
            )


@admin.register(Signal)
class SignalAdmin(ReadOnlyAdmin):
    list_display = [
        "received_at",
        "source",
        "symbol",
        "action",
        "strength",
        "status",
        "status_reason",
    ]
    list_filter = ["status", "action"]
    list_select_related = ["source"]
    search_fields = ["external_id", "symbol"]
