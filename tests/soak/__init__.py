"""The soak: the whole platform under load, faults and kills, then held against the exchange.

``python -m tests.soak --minutes 20`` runs the long form; ``make test`` runs a bounded
form of a few minutes (``test_soak.py``). Both start the real processes - web, the orders
worker, the worker, beat, streams and the simulator - against the test database and
Redis, drive them through the public API only, inject the simulator's faults and SIGKILL
the platform's processes while they work, then switch the faults off, let one sync cycle
settle, and check every invariant of ``verify.py`` against the exchange.
"""
