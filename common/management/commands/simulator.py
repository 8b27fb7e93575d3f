"""``manage.py simulator [--port 8765 --seed 1 ...]``: run the exchange simulator.

A thin wrapper: the simulator is a standalone aiohttp process that never imports Django,
so this passes its arguments straight to ``python -m simulator``'s entry point.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the local Binance-compatible exchange simulator (see simulator/__init__.py)."

    def add_arguments(self, parser):
        parser.add_argument("args", nargs="*", help="simulator options, e.g. --port 8765 --seed 1")

    def run_from_argv(self, argv):
        # argv = [manage.py, simulator, ...]: hand the options over untouched, so the
        # simulator's own parser (and --help) is the single source of truth.
        from simulator.server import main

        main(argv[2:])

    def handle(self, *args, **options):
        from simulator.server import main

        main(list(args))
