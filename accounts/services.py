"""Writes and workflows of the accounts app."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts import gateway, jobs, tokens
from accounts.errors import ExchangeFailure, Outcome, classify
from accounts.models import Alert, ApiToken, ExchangeAccount, ExchangeSyncState
from accounts.selectors import connection_test_job
from common.exceptions import Conflict, ValidationFailed
from common.keys import encrypting_with_development_key

logger = logging.getLogger(__name__)

_UNSET = object()
NEW_KEY_TRADE_MESSAGE = (
    "A new API key trades only after the connection test has checked that it cannot "
    "withdraw: save the account without can_trade, run the test (POST "
    "/api/accounts/<id>/test/, or the admin action), then enable trading."
)
WITHDRAW_KEY_MESSAGE = (
    "This API key can withdraw funds. Create a key without withdrawal permission "
    "on the exchange and save it here; trading is off for this account until then."
)


def _check_credentials(
    *, exchange_id: str, mode: str, api_key: str, api_secret: str, api_passphrase: str
) -> None:
    if mode == ExchangeAccount.Mode.PAPER:
        return
    _refuse_live_with_development_key(mode)
    required = gateway.required_credentials(exchange_id)
    missing = [
        name
        for name, value, needed in (
            ("api_key", api_key, required["apiKey"]),
            ("api_secret", api_secret, required["secret"]),
            ("api_passphrase", api_passphrase, required["password"]),
        )
        if needed and not value
    ]
    if missing:
        raise ValidationFailed(
            f"{exchange_id} needs {', '.join(missing)} for a {mode} account.",
            extra={"fields": missing},
        )


def _refuse_live_with_development_key(mode: str) -> None:
    """Real keys are never encrypted with the public development key (common.keys)."""
    if mode == ExchangeAccount.Mode.LIVE and encrypting_with_development_key(
        settings.FIELD_ENCRYPTION_KEYS
    ):
        raise ValidationFailed(
            "Live accounts are refused while FIELD_ENCRYPTION_KEYS starts with the public "
            "development key: set a key of your own first (see README, 'Configuration').",
            extra={"field": "mode"},
        )


def _last4(api_key: str) -> str:
    return api_key[-4:] if len(api_key) >= 8 else ""


def account_create(
    *,
    owner,
    exchange_id: str,
    label: str,
    mode: str = ExchangeAccount.Mode.SIMULATOR,
    market_type: str = ExchangeAccount.MarketType.SPOT,
    api_key: str = "",
    api_secret: str = "",
    api_passphrase: str = "",
    can_trade: bool = False,
) -> ExchangeAccount:
    """Store a new exchange account with its credentials encrypted.

    Nothing is sent to the exchange here: on commit, the ``accounts.account_check_
    connection`` task (``sync`` queue) checks the key, and records whether it can
    withdraw. Trading cannot start before that check found a key that cannot:
    ``can_trade=True`` is a Conflict for an account with credentials.
    """
    if can_trade and mode != ExchangeAccount.Mode.PAPER:
        raise Conflict(NEW_KEY_TRADE_MESSAGE, extra={"field": "can_trade"})
    gateway.validate_exchange(exchange_id=exchange_id, mode=mode, market_type=market_type)
    _check_credentials(
        exchange_id=exchange_id,
        mode=mode,
        api_key=api_key,
        api_secret=api_secret,
        api_passphrase=api_passphrase,
    )
    if ExchangeAccount.objects.filter(owner=owner, label=label).exists():
        raise ValidationFailed(
            f"You already have an account labelled {label!r}; choose another label.",
            extra={"field": "label"},
        )
    account = ExchangeAccount(
        owner=owner,
        exchange_id=exchange_id,
        label=label,
        mode=mode,
        market_type=market_type,
        api_key=api_key,
        api_secret=api_secret,
        api_passphrase=api_passphrase,
        key_last4=_last4(api_key),
        can_trade=can_trade,
    )
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError as exc:  # a concurrent create with the same label
        raise ValidationFailed(
            f"You already have an account labelled {label!r}; choose another label.",
            extra={"field": "label"},
        ) from exc
    logger.info("account %s created (%s %s %s)", account.pk, exchange_id, mode, market_type)
    _queue_key_check(account)
    return account


def _queue_key_check(account: ExchangeAccount) -> None:
    """Check a newly set key's permissions in a worker (``sync`` queue), never in the web
    process: the exchange may be slow."""
    if account.needs_credentials:
        from accounts import tasks

        tasks.account_check_connection.delay_on_commit(account.pk)


def account_update(
    *,
    account: ExchangeAccount,
    label=_UNSET,
    can_trade=_UNSET,
    is_active=_UNSET,
    api_key=_UNSET,
    api_secret=_UNSET,
    api_passphrase=_UNSET,
) -> ExchangeAccount:
    """Change an account. New credentials replace the old ones; blank ones are ignored.

    The exchange, mode and market type cannot change: orders and positions already
    recorded belong to them. Create a new account instead.

    A new key is unchecked: trading switches off and its permissions are checked in a
    worker on commit. ``can_trade=True`` is a Conflict unless the connection test
    checked the current key and found it cannot withdraw (``key_trade_refusal``).
    """
    changes: dict = {}
    if label is not _UNSET and label != account.label:
        if ExchangeAccount.objects.filter(owner_id=account.owner_id, label=label).exists():
            raise ValidationFailed(
                f"You already have an account labelled {label!r}; choose another label.",
                extra={"field": "label"},
            )
        changes["label"] = label
    if can_trade is not _UNSET and can_trade != account.can_trade:
        changes["can_trade"] = can_trade
    if is_active is not _UNSET and is_active != account.is_active:
        changes["is_active"] = is_active
    credentials = {
        name: value
        for name, value in (
            ("api_key", api_key),
            ("api_secret", api_secret),
            ("api_passphrase", api_passphrase),
        )
        if value is not _UNSET and value
    }
    if credentials:
        _refuse_live_with_development_key(account.mode)
        changes.update(credentials)
        if "api_key" in credentials:
            changes["key_last4"] = _last4(credentials["api_key"])
        # Errors recorded against the old key no longer describe this account.
        changes["last_error"] = ""
        changes["last_error_at"] = None
        # Nor do its permissions: a new key trades only once checked.
        changes["key_checked_at"] = None
        changes["key_can_withdraw"] = None
        if changes.get("can_trade"):
            raise Conflict(NEW_KEY_TRADE_MESSAGE, extra={"field": "can_trade"})
        if account.can_trade:
            changes["can_trade"] = False
    elif changes.get("can_trade") and (refusal := account.key_trade_refusal):
        raise Conflict(refusal, extra={"field": "can_trade"})
    if not changes:
        return account
    for name, value in changes.items():
        setattr(account, name, value)
    account.save(update_fields=[*changes, "updated_at"])
    gateway.forget_client(account.pk)
    if credentials:
        # A connection test of the old key says nothing of this one - nor does one running
        # now: the next test must not join it.
        jobs.job_forget(connection_test_job(account.pk))
    logger.info("account %s updated: %s", account.pk, ", ".join(sorted(changes)))
    if credentials:
        _queue_key_check(account)
    return account


def account_deactivate(*, account: ExchangeAccount) -> ExchangeAccount:
    """Stop syncing and trading this account. Its history stays."""
    return account_update(account=account, is_active=False)


def sync_state_record(
    *,
    account: ExchangeAccount,
    kind: str,
    at: datetime,
    failure: ExchangeFailure | None = None,
) -> None:
    """Record one attempt of ``kind`` for ``account``: success, or the classified failure."""
    state, _ = ExchangeSyncState.objects.get_or_create(account=account, kind=kind)
    if failure is None:
        ExchangeSyncState.objects.filter(pk=state.pk).update(
            last_attempt_at=at, last_success_at=at, consecutive_errors=0, last_error=""
        )
    else:
        ExchangeSyncState.objects.filter(pk=state.pk).update(
            last_attempt_at=at,
            consecutive_errors=F("consecutive_errors") + 1,
            last_error=str(failure),
        )


@dataclass(frozen=True)
class ConnectionResult:
    ok: bool
    checked_at: datetime
    message: str
    error: str = ""
    outcome: str = ""
    markets: int = 0
    assets: list[str] = field(default_factory=list)
    can_withdraw: bool | None = None


def _can_withdraw(client) -> bool | None:
    """Whether the key may withdraw, where the exchange says so (Binance does)."""
    if client.id in ("binance", "binanceusdm", "binancecoinm"):
        restrictions = client.sapi_get_account_apirestrictions()
        return bool(restrictions.get("enableWithdrawals"))
    return None


def account_check_connection(*, account: ExchangeAccount) -> ConnectionResult:
    """Load markets and the balance with the account's keys; record what happened.

    Calls the exchange outside any transaction, then writes the result on the account
    and its ``connection`` sync state. A key that can withdraw is refused: the check
    fails and ``can_trade`` is switched off. When the exchange answered, what it said of
    the key's permissions is recorded (``key_checked_at``, ``key_can_withdraw``) - unless
    the account changed meanwhile (a new key is checked by its own run).
    """
    now = timezone.now()
    if account.mode == ExchangeAccount.Mode.PAPER:
        return ConnectionResult(ok=True, checked_at=now, message="Paper accounts trade locally.")

    credentials = gateway.load_credentials(account)
    version = account.updated_at
    can_withdraw = None
    try:
        client = gateway.build_client(account, credentials=credentials)
        markets = gateway.ensure_markets(client, account)
        balance = client.fetch_balance()
        can_withdraw = _can_withdraw(client)
    except Exception as exc:  # noqa: BLE001 - every failure is classified and recorded
        failure = classify(exc, secrets=credentials.as_secrets())
        _record_connection(account=account, at=now, failure=failure)
        return ConnectionResult(
            ok=False,
            checked_at=now,
            message=failure.message,
            error=failure.error,
            outcome=failure.outcome,
        )

    assets = sorted(asset for asset, total in (balance.get("total") or {}).items() if total)
    if can_withdraw:
        failure = ExchangeFailure(
            outcome=Outcome.REJECTED,
            error="WithdrawalPermission",
            message=WITHDRAW_KEY_MESSAGE,
        )
        _record_connection(
            account=account,
            at=now,
            failure=failure,
            disable_trading=True,
            permissions=(version, True),
        )
        return ConnectionResult(
            ok=False,
            checked_at=now,
            message=WITHDRAW_KEY_MESSAGE,
            error=failure.error,
            outcome=failure.outcome,
            markets=len(markets),
            assets=assets,
            can_withdraw=True,
        )
    _record_connection(account=account, at=now, failure=None, permissions=(version, can_withdraw))
    return ConnectionResult(
        ok=True,
        checked_at=now,
        message=f"Connected: {len(markets)} markets, {len(assets)} assets with a balance.",
        markets=len(markets),
        assets=assets,
        can_withdraw=can_withdraw,
    )


def account_connection_test_start(*, account: ExchangeAccount, user_id: int | None) -> jobs.Job:
    """Queue a connection test of ``account`` for the ``sync`` worker, or join the one
    queued or running; the web process never waits for the exchange. Its result shows in
    ``accounts.selectors.connection_test_status`` (and on the account: last sync, last
    error, the key's permissions). Counts against ``user_id``'s jobs (TooManyJobs)."""
    from accounts import tasks

    return jobs.job_start(
        name=connection_test_job(account.pk),
        task=tasks.account_check_connection,
        args=(account.pk,),
        user_id=user_id,
    )


def account_connection_test_run(*, account_id: int, job_id: str = "") -> None:
    """The worker's side of a connection test (the job ``job_id``, or the check queued
    when a key is saved): ``account_check_connection``, its result left for
    ``connection_test_status`` - also when the check itself failed unexpectedly."""
    result = None
    try:
        account = ExchangeAccount.objects.filter(pk=account_id).first()
        if account is not None:
            result = account_check_connection(account=account)
    finally:
        jobs.job_finish(
            name=connection_test_job(account_id),
            job_id=job_id,
            result=result,
            keep=result is not None or bool(job_id),
        )


def _record_connection(
    *,
    account: ExchangeAccount,
    at: datetime,
    failure: ExchangeFailure | None,
    disable_trading: bool = False,
    permissions: tuple[datetime, bool | None] | None = None,
) -> None:
    with transaction.atomic():
        if permissions is not None:
            # Only for the key that was checked: the row as it was when the check began.
            version, can_withdraw = permissions
            ExchangeAccount.objects.filter(pk=account.pk, updated_at=version).update(
                key_checked_at=at, key_can_withdraw=can_withdraw
            )
        if failure is None:
            ExchangeAccount.objects.filter(pk=account.pk).update(
                last_sync_at=at, last_error="", last_error_at=None
            )
        else:
            fields: dict = {"last_error": str(failure), "last_error_at": at}
            if disable_trading:
                fields["can_trade"] = False
            ExchangeAccount.objects.filter(pk=account.pk).update(**fields)
        sync_state_record(
            account=account, kind=ExchangeSyncState.Kind.CONNECTION, at=at, failure=failure
        )
    account.refresh_from_db(
        fields=[
            "last_sync_at",
            "last_error",
            "last_error_at",
            "can_trade",
            "key_checked_at",
            "key_can_withdraw",
        ]
    )
    if disable_trading:
        gateway.forget_client(account.pk)


def markets_refresh(*, missing_only: bool = False) -> int:
    """Reload markets once per (exchange, mode, market type) in use; return how many.

    Writes them to the shared cache that every client reads (``gateway.ensure_markets``),
    so precision and limits follow the venue without each worker asking for them.
    ``missing_only``: only venues whose markets are not in the cache (a new account's,
    or after Redis lost them) - a cache read per venue when all are there.
    """
    refreshed = 0
    seen: set[str] = set()
    for account in ExchangeAccount.objects.filter(is_active=True).exclude(
        mode=ExchangeAccount.Mode.PAPER
    ):
        key = gateway.markets_cache_key(account)
        if key in seen:
            continue
        seen.add(key)
        if missing_only and gateway.cached_markets(account) is not None:
            continue
        try:
            gateway.ensure_markets(gateway.get_client(account), account, reload=True)
        except Exception as exc:  # noqa: BLE001 - one venue down must not stop the others
            logger.warning("markets refresh for %s failed: %s", key, classify(exc))
            continue
        refreshed += 1
    return refreshed


def alert_raise(
    *,
    kind: str,
    message: str,
    account: ExchangeAccount | None = None,
    subject: str = "",
    severity: str = "warning",
) -> Alert:
    """Open an alert, or count a repeat on the one still open for (account, kind,
    subject). Written in the caller's transaction; pushed to the owner's dashboard as
    ``alert.raised`` on commit and logged at WARNING / ERROR. Messages must carry no
    secret: they are shown to people and written to logs."""
    from realtime.groups import account_group
    from realtime.publish import broadcast_on_commit

    now = timezone.now()
    with transaction.atomic():
        alert = (
            Alert.objects.select_for_update()
            .filter(account=account, kind=kind, subject=subject, acknowledged_at__isnull=True)
            .first()
        )
        if alert is None:
            alert = Alert.objects.create(
                account=account,
                kind=kind,
                severity=severity,
                subject=subject,
                message=message,
                created_at=now,
                last_seen_at=now,
            )
        else:
            Alert.objects.filter(pk=alert.pk).update(
                occurrences=F("occurrences") + 1, last_seen_at=now, message=message
            )
            alert.refresh_from_db()
        if account is not None:
            from accounts.api.serializers import AlertOutput

            broadcast_on_commit(
                group=account_group(account.pk),
                event="alert.raised",
                payload=AlertOutput(alert).data,
            )
    level = logging.ERROR if severity == Alert.Severity.CRITICAL else logging.WARNING
    logger.log(
        level, "alert %s on account %s (%s): %s", kind, account and account.pk, subject, message
    )
    return alert


def alert_acknowledge(*, alert: Alert, user) -> Alert:
    """Close an open alert (idempotent: acknowledging twice keeps the first)."""
    Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now(), acknowledged_by=user
    )
    alert.refresh_from_db()
    return alert


def api_token_create(
    *, user, name: str = "", days: int | None = None, now: datetime | None = None
) -> tuple[ApiToken, str]:
    """A new API token for ``user``, valid ``days`` (settings.API_TOKEN_DAYS by default,
    at most API_TOKEN_MAX_DAYS). Returns the row and the key - the only time the key is
    known: only its hash is stored."""
    days = settings.API_TOKEN_DAYS if days is None else days
    if not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        raise ValidationFailed(
            f"A token lives 1 to {settings.API_TOKEN_MAX_DAYS} days; asked for {days}."
        )
    now = now or timezone.now()
    key = tokens.new_key()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=tokens.key_prefix(key),
        key_hash=tokens.key_hash(key),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    return token, key


def api_token_revoke(*, token: ApiToken, by) -> ApiToken:
    """End ``token`` now (``by``: the user or admin who did). Revoking a revoked token
    changes nothing: the first revocation's time and person stay."""
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=by
    )
    token.refresh_from_db(fields=["revoked_at", "revoked_by"])
    return token
