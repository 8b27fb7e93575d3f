from django.contrib import admin, messages

from common.admin import ReadOnlyAdmin
from orders.services.common import user_actor
from risk import services
from risk.models import GlobalRiskState, RiskDecision, RiskEvent, RiskLimit, RiskState


@admin.register(RiskLimit)
class RiskLimitAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "owner",
        "scope",
        "enabled",
        "max_order_value",
        "max_position_pct",
        "max_daily_loss",
        "max_drawdown_pct",
    ]
    list_filter = ["scope", "enabled"]
    list_select_related = ["owner", "account"]


@admin.register(RiskDecision)
class RiskDecisionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "account", "approved", "reason", "order", "actor"]
    list_filter = ["approved"]
    list_select_related = ["account", "order"]
    search_fields = ["reason", "order__client_order_id"]


@admin.register(RiskEvent)
class RiskEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "account", "type", "reason", "actor"]
    list_filter = ["type"]
    list_select_related = ["account"]


@admin.register(RiskState)
class RiskStateAdmin(ReadOnlyAdmin):
    """Kill switches and breakers change through the actions (audited), not by editing."""

    list_display = [
        "account",
        "kill_switch",
        "kill_reason",
        "breaker",
        "breaker_reason",
        "changed_at",
    ]
    list_select_related = ["account"]
    actions = ["kill_switch_on", "kill_switch_off", "reset_breaker"]

    def has_change_permission(self, request, obj=None):
        return obj is None  # the changelist (for actions), never the edit form

    @admin.action(description="Kill switch ON (no new orders)")
    def kill_switch_on(self, request, queryset):
        for state in queryset.select_related("account"):
            services.kill_switch_set(
                on=True,
                actor=user_actor(request.user),
                reason="from the admin",
                account=state.account,
            )
        self.message_user(request, "Kill switch on.", messages.WARNING)

    @admin.action(description="Kill switch off (resume)")
    def kill_switch_off(self, request, queryset):
        for state in queryset.select_related("account"):
            services.kill_switch_set(
                on=False, actor=user_actor(request.user), account=state.account
            )
        self.message_user(request, "Kill switch off.")

    @admin.action(description="Reset the tripped breaker (resume trading)")
    def reset_breaker(self, request, queryset):
        for state in queryset.select_related("account"):
            services.breaker_reset(
                account=state.account, actor=user_actor(request.user), reason="reset from the admin"
            )
        self.message_user(request, "Breakers reset.")


@admin.register(GlobalRiskState)
class GlobalRiskStateAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "kill_reason", "changed_at"]
    actions = ["global_on", "global_off"]

    def has_change_permission(self, request, obj=None):
        return obj is None

    @admin.action(description="Global kill switch ON")
    def global_on(self, request, queryset):
        services.kill_switch_set(on=True, actor=user_actor(request.user), reason="from the admin")

    @admin.action(description="Global kill switch off")
    def global_off(self, request, queryset):
        services.kill_switch_set(on=False, actor=user_actor(request.user))
