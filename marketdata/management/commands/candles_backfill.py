"""``manage.py candles_backfill --account N --symbol BTC/USDT --timeframe 1m --since 2026-01-01``

Pages the venue's candles from ``--since`` (to ``--until``, default now) into the
database with a progress bar. Interrupted (Ctrl-C), it is resumed by running it again:
it starts from the latest candle stored and fills whatever is missing before it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accounts.models import ExchangeAccount
from common.exceptions import ApplicationError
from marketdata import services
from marketdata.timeframes import to_ms

BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]"


def _moment(value: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(
            f"{option} {value!r} is not a date or time: use e.g. 2026-01-01 or "
            "2026-01-01T12:00 (UTC unless it names an offset)."
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Backfill candles of one symbol and timeframe from the account's venue."

    def add_arguments(self, parser):
        parser.add_argument("--account", type=int, required=True, help="exchange account id")
        parser.add_argument("--symbol", required=True, help="ccxt symbol, e.g. BTC/USDT")
        parser.add_argument("--timeframe", default="1m", help="e.g. 1m, 5m, 1h, 1d")
        parser.add_argument("--since", required=True, help="UTC date or time, e.g. 2026-01-01")
        parser.add_argument("--until", help="UTC date or time (default: now)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        account = ExchangeAccount.objects.filter(pk=options["account"]).first()
        if account is None:
            raise CommandError(f"No exchange account {options['account']}.")
        since = _moment(options["since"], "--since")
        until = _moment(options["until"], "--until") if options["until"] else None
        if until is not None and until <= since:
            raise CommandError("--until must be after --since.")
        bar = None

        def report(progress: services.BackfillProgress) -> None:
            nonlocal bar
            if options["no_progress"]:
                return
            if bar is None:
                bar = tqdm(
                    total=100,
                    unit="%",
                    desc=f"{progress.symbol} {progress.timeframe}",
                    file=self.stderr._out,
                    bar_format=BAR_FORMAT,
                )
            bar.n = round(progress.fraction * 100, 1)
            bar.set_postfix_str(f"{progress.stored:,} candles, {progress.phase}", refresh=False)
            bar.refresh()

        try:
            result = services.candles_backfill(
                account=account,
                symbol=options["symbol"],
                timeframe=options["timeframe"],
                since=to_ms(since),
                until=to_ms(until) if until else None,
                progress=report,
            )
        except KeyboardInterrupt:
            raise CommandError(
                "Interrupted. What was stored stays; run the same command again to resume."
            ) from None
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        finally:
            if bar is not None:
                bar.close()
        rate = result.stored / result.seconds if result.seconds else 0
        self.stdout.write(
            f"{result.venue} {result.symbol} {result.timeframe}: {result.stored:,} candles "
            f"stored in {result.requests} requests, {result.seconds:.1f} s ({rate:,.0f}/s); "
            f"gaps filled: {result.gaps_filled}"
        )
        for first, last in result.missing:
            self.stdout.write(
                f"  the venue has no candles from {datetime.fromtimestamp(first / 1000, UTC)} "
                f"to {datetime.fromtimestamp(last / 1000, UTC)}"
            )
