"""A local exchange that speaks Binance's spot and USD-M REST API over a real matching engine.

Run it with ``python -m simulator --port 8765 --seed 1`` (or ``manage.py simulator``), or
in-process for tests with :func:`simulator.testing.run_in_thread`. Point ccxt at it with
:func:`simulator.client.simulator_client`. The control API (accounts, prices, faults)
lives under ``/_sim/``; see :mod:`simulator.control`.

Layout: ``engine/`` (book, matching, balances, positions, synthetic market; pure Python
but for the kline history - ``engine/history.py``, numpy - and ``engine/klines.py``,
which joins it to the live candles and pages them as Binance does),
``rest/`` (Binance endpoints, signing), ``control.py`` and ``faults.py`` (test controls),
``server.py`` (aiohttp app and market timer), ``client.py`` (ccxt factory).

This package never imports Django: it must run as a standalone process.
"""
