"""`manage.py fills_repair`: record trades the platform missed, from the exchange's history.

    manage.py fills_repair --account 3 --since 2026-11-01 [--until 2026-12-05]
                           [--symbol BTC/USDT ...] [--dry-run]
    manage.py fills_repair --all --since 2026-11-01

Installs from before fills were keyed per symbol lost trades whose id another symbol had
already used; this reads each account's trades back and records the missing ones, then
rebuilds spot holdings (positions.repair).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.errors import classify
from accounts.models import ExchangeAccount
from positions.repair import fills_repair


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(
            f"{text!r} is not a date or time: use e.g. 2026-11-01 or 2026-11-01T08:00."
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Re-read accounts' trades from the exchange and record the ones with no fill."

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--account", type=int, help="the exchange account's id")
        which.add_argument("--all", action="store_true", help="every active account")
        parser.add_argument("--since", required=True, help="start, ISO date/time (UTC)")
        parser.add_argument("--until", help="end, ISO date/time (UTC); default now")
        parser.add_argument(
            "--symbol", action="append", dest="symbols", help="only these (repeatable)"
        )
        parser.add_argument("--dry-run", action="store_true", help="count, write nothing")

    def handle(self, *args, **options):
        since = _moment(options["since"])
        until = _moment(options["until"]) if options["until"] else timezone.now()
        if since >= until:
            raise CommandError("--since must be before --until.")
        accounts = ExchangeAccount.objects.filter(is_active=True).exclude(
            mode=ExchangeAccount.Mode.PAPER
        )
        if options["account"] is not None:
            accounts = ExchangeAccount.objects.filter(pk=options["account"])
            if not accounts.exists():
                raise CommandError(f"There is no exchange account {options['account']}.")
        failed = 0
        for account in accounts.order_by("pk"):
            self.stdout.write(f"account {account.pk} ({account.label}):")
            try:
                report = fills_repair(
                    account=account,
                    since=since,
                    until=until,
                    symbols=options["symbols"],
                    dry_run=options["dry_run"],
                    progress=lambda line: self.stdout.write(f"  {line}"),
                )
            except Exception as exc:  # noqa: BLE001 - one account's failure is reported, the rest go on
                failed += 1
                self.stderr.write(f"  failed: {classify(exc)}")
                continue
            verb = "would add" if options["dry_run"] else "added"
            self.stdout.write(
                f"  {report.trades_seen} trades read, {verb} {report.fills_added} fills"
                + (
                    f", {report.holdings_rebuilt} fills replayed into holdings"
                    if report.holdings_rebuilt
                    else ""
                )
            )
        if failed:
            raise CommandError(f"{failed} account(s) could not be repaired; see above.")
