"""Process-level tuning shared by the long-running processes (web, worker, streams).

The garbage collector: a process of this platform holds some 300,000 long-lived objects
after start-up (Django, DRF, ccxt's exchange classes), and each full collection walks all
of them - about 120 ms measured here, a pause that lands on whatever request or order
happens to allocate at that moment. ``settle_heap`` moves what start-up created out of
the collector's reach (``gc.freeze``): full collections then walk only what was made
since, and pages shared with forked children stay shared (no refcount writes by gc).
"""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Collect once, then freeze every surviving object. Call when start-up is done."""
    gc.collect()
    gc.freeze()
