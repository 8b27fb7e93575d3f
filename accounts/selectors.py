"""Reads for the accounts app. Every queryset that serves a user is scoped to that user."""

from __future__ import annotations

from django.db.models import F, QuerySet

from accounts.models import Alert, ApiToken, ExchangeAccount, ExchangeSyncState


def account_list(*, user) -> QuerySet[ExchangeAccount]:
    return ExchangeAccount.objects.filter(owner=user).prefetch_related("sync_states")


def account_get(*, user, pk: int) -> ExchangeAccount:
    """The user's account ``pk``; another user's account is indistinguishable from none."""
    return account_list(user=user).get(pk=pk)


def account_ids_for_user(*, user) -> list[int]:
    return list(ExchangeAccount.objects.filter(owner=user).values_list("pk", flat=True))


def active_accounts() -> QuerySet[ExchangeAccount]:
    return ExchangeAccount.objects.filter(is_active=True).exclude(mode=ExchangeAccount.Mode.PAPER)


def sync_state_list(*, account: ExchangeAccount) -> QuerySet[ExchangeSyncState]:
    return ExchangeSyncState.objects.filter(account=account)


def alert_list(*, user) -> QuerySet[Alert]:
    """Alerts on the user's accounts, open first, newest first."""
    return (
        Alert.objects.filter(account__owner=user)
        .select_related("account")
        .order_by(F("acknowledged_at").desc(nulls_first=True), "-last_seen_at", "-pk")
    )


def api_token_list(*, user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")
