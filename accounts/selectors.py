"""Reads for the accounts app. Every queryset that serves a user is scoped to that user."""

from __future__ import annotations

from django.db.models import F, QuerySet

from accounts import jobs
from accounts.models import Alert, ApiToken, ExchangeAccount, ExchangeSyncState


def account_list(*, user) -> QuerySet[ExchangeAccount]:
    return ExchangeAccount.objects.filter(owner=user).prefetch_related("sync_states")


def account_get(*, user, pk: int) -> ExchangeAccount:
    """The user's account ``pk``; another user's account is indistinguishable from none."""
    return account_list(user=user).get(pk=pk)


def account_ids_for_user(*, user) -> list[int]:
    return list(ExchangeAccount.objects.filter(owner=user).values_list("pk", flat=True))


def account_venue_for_user(*, user, account_id: int) -> str | None:
    """The market-data venue of the user's account ``account_id``; None if not theirs."""
    account = ExchangeAccount.objects.filter(owner=user, pk=account_id).first()
    return None if account is None else account.data_venue


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


def connection_test_job(account_id: int) -> str:
    """The name of an account's connection test job (accounts.jobs)."""
    return f"connection-test:{account_id}"


def connection_test_status(*, account: ExchangeAccount) -> dict | None:
    """The account's last connection test (accounts.services.account_connection_test_start):
    running, or done with its ``ConnectionResult``; None when there was none within the
    last hour or the key changed since."""
    found = jobs.job_status(connection_test_job(account.pk))
    if found is None:
        return None
    return {
        "account": account.pk,
        "status": found.status,
        "requested_at": found.requested_at,
        "finished_at": found.finished_at,
        "result": found.result,
    }


def api_token_list(*, user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")
