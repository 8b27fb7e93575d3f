"""``BudgetExhausted``, apart from accounts.ratelimit because it is a ccxt error.

``import ccxt`` loads every exchange module (some 65 MB). The budget's arithmetic needs
none of it, and the web process, which imports accounts.ratelimit through the gateway,
never calls an exchange on a warm markets cache; so only the code that raises or catches
this imports this module (``accounts.ratelimit.BudgetExhausted`` still finds it).
"""

from __future__ import annotations

import ccxt


class BudgetExhausted(ccxt.RateLimitExceeded):
    """The request was not sent: the account's budget would not allow it in time."""
