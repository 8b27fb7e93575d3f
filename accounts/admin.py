"""Admin for exchange accounts. Credentials are write-only here: never rendered back."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages

from accounts import gateway, services
from accounts.models import (
    AccountGroup,
    AccountGroupMember,
    Alert,
    ApiToken,
    BalanceSnapshot,
    ExchangeAccount,
    ExchangeSyncState,
)
from common.admin import ReadOnlyAdmin
from common.exceptions import ApplicationError


def _secret_input(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        strip=True,
        max_length=256,
        # render_value=False: the page never carries a stored credential back out.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave blank to keep the stored value.",
    )


class ExchangeAccountForm(forms.ModelForm):
    new_api_key = _secret_input("API key")
    new_api_secret = _secret_input("API secret")
    new_api_passphrase = _secret_input("API passphrase")

    class Meta:
        model = ExchangeAccount
        fields = ["owner", "exchange_id", "label", "mode", "market_type", "can_trade", "is_active"]

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None and self.errors == {}:
            try:
                gateway.validate_exchange(
                    exchange_id=cleaned.get("exchange_id", ""),
                    mode=cleaned.get("mode", ""),
                    market_type=cleaned.get("market_type", ""),
                )
                services._check_credentials(
                    exchange_id=cleaned["exchange_id"],
                    mode=cleaned["mode"],
                    api_key=cleaned.get("new_api_key", ""),
                    api_secret=cleaned.get("new_api_secret", ""),
                    api_passphrase=cleaned.get("new_api_passphrase", ""),
                )
            except ApplicationError as exc:
                raise forms.ValidationError(exc.message) from exc
        self._check_can_trade(cleaned)
        return cleaned

    def _check_can_trade(self, cleaned: dict) -> None:
        """The service's rule as a form error, not a 500: trading turns on only for a
        key the connection test found unable to withdraw."""
        if not cleaned.get("can_trade") or "can_trade" not in self.changed_data:
            return
        creating = self.instance.pk is None
        if creating and cleaned.get("mode") == ExchangeAccount.Mode.PAPER:
            return
        new_key = any(
            cleaned.get(name) for name in ("new_api_key", "new_api_secret", "new_api_passphrase")
        )
        if creating or new_key:
            self.add_error("can_trade", services.NEW_KEY_TRADE_MESSAGE)
        elif refusal := ExchangeAccount.objects.get(pk=self.instance.pk).key_trade_refusal:
            self.add_error("can_trade", refusal)


class SyncStateInline(admin.TabularInline):
    model = ExchangeSyncState
    extra = 0
    can_delete = False
    readonly_fields = [f.name for f in ExchangeSyncState._meta.fields if f.name != "id"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ExchangeAccount)
class ExchangeAccountAdmin(admin.ModelAdmin):
    form = ExchangeAccountForm
    list_display = [
        "label",
        "owner",
        "exchange_id",
        "mode",
        "market_type",
        "masked_key",
        "can_trade",
        "is_active",
        "last_sync_at",
        "short_error",
    ]
    list_filter = ["exchange_id", "mode", "market_type", "can_trade", "is_active"]
    search_fields = ["label", "owner__username", "exchange_id"]
    list_select_related = ["owner"]
    readonly_fields = [
        "masked_key",
        "key_checked_at",
        "key_can_withdraw",
        "last_sync_at",
        "last_error",
        "last_error_at",
        "created_at",
    ]
    inlines = [SyncStateInline]
    actions = ["test_connection", "deactivate"]
    fieldsets = [
        (None, {"fields": ["owner", "label", "exchange_id", "mode", "market_type"]}),
        (
            "Credentials",
            {
                "fields": [
                    "masked_key",
                    "new_api_key",
                    "new_api_secret",
                    "new_api_passphrase",
                    "key_checked_at",
                    "key_can_withdraw",
                ]
            },
        ),
        ("Trading", {"fields": ["can_trade", "is_active"]}),
        ("Status", {"fields": ["last_sync_at", "last_error", "last_error_at", "created_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        fixed = ["exchange_id", "mode", "market_type", "owner"] if obj else []
        return [*self.readonly_fields, *fixed]

    @admin.display(description="API key")
    def masked_key(self, obj):
        return obj.masked_key or "-"

    @admin.display(description="Last error")
    def short_error(self, obj):
        return (obj.last_error[:60] + "…") if len(obj.last_error) > 60 else obj.last_error

    def save_model(self, request, obj, form, change):
        credentials = {
            "api_key": form.cleaned_data.get("new_api_key", ""),
            "api_secret": form.cleaned_data.get("new_api_secret", ""),
            "api_passphrase": form.cleaned_data.get("new_api_passphrase", ""),
        }
        if change:
            # ``obj`` already carries the form's values; the service compares with the row.
            updated = services.account_update(
                account=ExchangeAccount.objects.get(pk=obj.pk),
                label=obj.label,
                can_trade=obj.can_trade,
                is_active=obj.is_active,
                **credentials,
            )
            if obj.can_trade and not updated.can_trade:
                self.message_user(
                    request,
                    "A new key trades only once checked: trading is off until the connection "
                    "test finds it cannot withdraw; run it, then enable trading.",
                    messages.WARNING,
                )
        else:
            created = services.account_create(
                owner=obj.owner,
                exchange_id=obj.exchange_id,
                label=obj.label,
                mode=obj.mode,
                market_type=obj.market_type,
                can_trade=obj.can_trade,
                **credentials,
            )
            obj.pk = created.pk
            obj._state.adding = False

    @admin.action(description="Test connection (load markets and balance)")
    def test_connection(self, request, queryset):
        # Queued for the sync worker: a slow exchange must not hold a request thread.
        labels = []
        for account in queryset:
            try:
                services.account_connection_test_start(account=account, user_id=None)
            except ApplicationError as exc:
                self.message_user(request, f"{account.label}: {exc.message}", messages.ERROR)
            else:
                labels.append(account.label)
        if labels:
            self.message_user(
                request,
                f"Connection test queued for {', '.join(labels)}: the result shows in Last "
                "sync and Last error once a worker has run it (reload this page).",
                messages.INFO,
            )

    @admin.action(description="Deactivate (stop syncing and trading)")
    def deactivate(self, request, queryset):
        for account in queryset:
            services.account_deactivate(account=account)
        self.message_user(request, f"{queryset.count()} account(s) deactivated.")


class AccountGroupMemberInline(admin.TabularInline):
    model = AccountGroupMember
    extra = 1
    autocomplete_fields = ["account"]


@admin.register(AccountGroup)
class AccountGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "created_at"]
    list_select_related = ["owner"]
    search_fields = ["name"]
    inlines = [AccountGroupMemberInline]


@admin.register(BalanceSnapshot)
class BalanceSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["account", "asset", "total", "free", "used", "value_quote", "taken_at"]
    list_filter = ["asset"]
    list_select_related = ["account"]
    date_hierarchy = "taken_at"


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    """Alerts as raised; a person acknowledges them (the only change allowed)."""

    list_display = [
        "last_seen_at",
        "severity",
        "kind",
        "account",
        "subject",
        "message",
        "occurrences",
        "acknowledged_at",
    ]
    list_filter = ["severity", "kind", ("acknowledged_at", admin.EmptyFieldListFilter)]
    list_select_related = ["account"]
    search_fields = ["kind", "subject", "message"]
    actions = ["acknowledge"]

    @admin.action(description="Acknowledge the selected alerts")
    def acknowledge(self, request, queryset):
        for alert in queryset.filter(acknowledged_at__isnull=True):
            services.alert_acknowledge(alert=alert, user=request.user)
        self.message_user(request, "Acknowledged.", messages.SUCCESS)


class ApiTokenAddForm(forms.ModelForm):
    days = forms.IntegerField(
        min_value=1,
        help_text="How long it works (at most API_TOKEN_MAX_DAYS).",
    )

    class Meta:
        model = ApiToken
        fields = ["user", "name"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["days"].initial = settings.API_TOKEN_DAYS

    def clean_days(self):
        days = self.cleaned_data["days"]
        if days > settings.API_TOKEN_MAX_DAYS:
            raise forms.ValidationError(f"At most {settings.API_TOKEN_MAX_DAYS} days.")
        return days


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """API tokens by their first characters: the key is never stored, so never shown -
    except once, in the message after "Add" makes one. Revoked, not deleted: the row
    keeps who ended it when."""

    list_display = [
        "shown_prefix",
        "user",
        "name",
        "state",
        "created_at",
        "expires_at",
        "revoked_at",
        "revoked_by",
    ]
    list_select_related = ["user", "revoked_by"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "expires_at"]
    search_fields = ["user__username", "prefix", "name"]
    readonly_fields = [
        "shown_prefix",
        "user",
        "created_at",
        "expires_at",
        "revoked_at",
        "revoked_by",
        "state",
    ]
    fields = [*readonly_fields[:2], "name", *readonly_fields[2:]]
    actions = ["revoke"]

    @admin.display(description="token")
    def shown_prefix(self, obj):
        return f"{obj.prefix}…"

    @admin.display(description="state")
    def state(self, obj):
        return obj.state()

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
            kwargs["fields"] = ["user", "name", "days"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["user", "name", "days"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        token, key = services.api_token_create(
            user=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            days=form.cleaned_data["days"],
        )
        # The admin goes on with ``obj`` (history, redirect): make it the row just made.
        for field in token._meta.concrete_fields:
            setattr(obj, field.attname, getattr(token, field.attname))
        obj._state.adding = False
        obj._state.db = token._state.db
        self.message_user(
            request,
            f"API token {token.prefix}… for {token.user}: {key} - copy it now, it is not "
            "shown again.",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True):
            services.api_token_revoke(token=token, by=request.user)
            revoked += 1
        self.message_user(request, f"{revoked} token(s) revoked.", messages.SUCCESS)
