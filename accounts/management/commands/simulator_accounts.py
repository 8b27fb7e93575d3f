"""`manage.py simulator_accounts`: make the running simulator know our simulator accounts.

The simulator keeps everything in memory, so after a restart it knows no key of ours and
every simulator-mode account would fail with an authentication error. This registers
each active simulator-mode account's stored key (decrypted here, sent only to the local
simulator) with starting balances. ``--demo USER`` first gives that user a funded spot
and a futures demo account, once. `make run` runs it after the simulator starts.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts import gateway, services
from accounts.models import ExchangeAccount

DEMO_BALANCES = {"spot": {"USDT": "100000", "BTC": "1", "ETH": "10"}, "futures": {"USDT": "100000"}}


def _control(path: str, body: dict) -> dict:
    request = urllib.request.Request(  # noqa: S310 - the configured simulator URL
        f"{settings.SIMULATOR_URL.rstrip('/')}/_sim{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


class Command(BaseCommand):
    help = "Register every simulator-mode account's key with the running simulator."

    def add_arguments(self, parser):
        parser.add_argument(
            "--demo", metavar="USER", help="give USER a funded spot and futures demo account, once"
        )

    def handle(self, *args, demo: str | None = None, **options):
        if not settings.SIMULATOR_URL:
            raise CommandError("SIMULATOR_URL is not set: there is no simulator to register with.")
        created = self._ensure_demo(demo) if demo else []
        registered = 0
        for account in ExchangeAccount.objects.filter(
            mode=ExchangeAccount.Mode.SIMULATOR, is_active=True
        ):
            credentials = gateway.load_credentials(account)
            if not credentials.api_key:
                continue
            try:
                _control(
                    "/accounts",
                    {
                        "account_id": f"platform-{account.pk}",
                        "api_key": credentials.api_key,
                        "secret": credentials.secret,
                        **DEMO_BALANCES,
                    },
                )
                registered += 1
            except urllib.error.HTTPError as exc:
                if exc.code != 400:  # 400: already known (the simulator kept running)
                    raise CommandError(
                        f"the simulator refused account {account.pk}: {exc}"
                    ) from exc
            except urllib.error.URLError as exc:
                raise CommandError(
                    f"the simulator at {settings.SIMULATOR_URL} does not answer: {exc.reason}"
                ) from exc
        self.stdout.write(f"simulator accounts registered: {registered}")
        # Their venues' markets in the cache now, not at the next beat: the first order
        # reads them from there.
        from accounts.services import markets_refresh

        markets_refresh(missing_only=True)
        for account in created:
            self._enable_trading(account)

    def _enable_trading(self, account: ExchangeAccount) -> None:
        # The demo's keys are ours, made without withdrawal permission; the connection
        # test still confirms it, as for any key, before trading is switched on.
        result = services.account_check_connection(account=account)
        if not result.ok:
            self.stderr.write(f"{account.label!r}: trading left off: {result.message}")
            return
        services.account_update(account=account, can_trade=True)
        self.stdout.write(f"{account.label!r}: key checked, trading on")

    def _ensure_demo(self, username: str) -> list[ExchangeAccount]:
        owner = get_user_model().objects.filter(username=username).first()
        if owner is None:
            raise CommandError(f"no user {username!r}")
        created = []
        for label, market_type in (("Demo spot", "spot"), ("Demo futures", "swap")):
            if ExchangeAccount.objects.filter(owner=owner, label=label).exists():
                continue
            account = services.account_create(
                owner=owner,
                exchange_id="binance",
                label=label,
                mode="simulator",
                market_type=market_type,
                api_key=secrets.token_hex(32),
                api_secret=secrets.token_hex(32),
            )
            created.append(account)
            self.stdout.write(f"created the {label!r} simulator account for {username!r}")
        return created
