"""Settings shared by every environment.

Everything that differs between machines is read from the environment through
django-environ: ``DJANGO_*`` for Django itself, plain names for infrastructure
(``DATABASE_URL``, ``REDIS_URL``). ``local`` and ``test`` supply development
defaults; ``production`` has none and refuses to start without its secrets.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # daphne first: its runserver serves ASGI (HTTP and websockets).
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_celery_beat",
    "channels",
    "common",
    "realtime",
    "accounts",
    "marketdata",
    "orders",
    "positions",
    "strategies",
    "risk",
    "dashboard",
]

MIDDLEWARE = [
    # First: every answer carries the policy, those middleware below makes on its own too.
    "common.middleware.ContentSecurityPolicyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from the ASGI process (daphne serves none): from the app
    # folders in development (DEBUG: WHITENOISE_USE_FINDERS), from STATIC_ROOT in production.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "common.middleware.SessionIdleTimeoutMiddleware",
    "common.middleware.PrivateNoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A login refused because the process was busy checking passwords: 429.
    "common.middleware.LoginBusyMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout answer.
    "axes.middleware.AxesMiddleware",
]

# What a page may load and run (common/csp.py): our own scripts, styles and sockets only -
# nothing inline, nothing from elsewhere, never framed. A view that needs more widens it
# for itself (the Swagger UI: common.csp.csp_update).
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    # lightweight-charts inserts one <style> for TradingView's attribution logo (its
    # licence's NOTICE asks for the logo): allowed by its hash, for that text only
    # (static/vendor/lightweight-charts/README.md; a new version needs a new hash).
    "style-src": ["'self'", "'sha256-3pRED1tOXas1FXFoPb9TGCjmYe9XQsmO9OV23khV2nY='"],
    "img-src": ["'self'"],
    "font-src": ["'self'"],
    # The dashboard's websocket, on this origin (ws:// or wss:// as the page).
    "connect-src": ["'self'", "websocket-self"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}

ROOT_URLCONF = "trading_site.urls"
ASGI_APPLICATION = "trading_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_config(url: str | None) -> dict:
    """PostgreSQL from DATABASE_URL, or SQLite in WAL mode under var/."""
    if url:
        config = env.db_url_config(url)
        if config["ENGINE"] == "django.db.backends.postgresql" and env.bool(
            "DATABASE_POOL", default=False
        ):
            # The web process (trading_site/asgi.py switches this on): its request threads
            # (common/asgi.py) borrow a connection per request. Not in Celery's forked
            # workers: a pool does not survive a fork, and one thread per process keeps
            # a persistent connection anyway.
            config["CONN_MAX_AGE"] = 0
            config.setdefault("OPTIONS", {})["pool"] = {
                "min_size": env.int("DATABASE_POOL_MIN", default=2),
                "max_size": env.int("DATABASE_POOL_MAX", default=10),
                "timeout": 10,
            }
        else:
            config.setdefault("CONN_MAX_AGE", 60)
            config["CONN_HEALTH_CHECKS"] = True
        return config
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "db.sqlite3",
        "OPTIONS": {
            # WAL lets the web, worker and beat processes read while one writes;
            # IMMEDIATE makes writers queue on the lock instead of failing on upgrade.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
            ),
        },
    }


DATABASES = {"default": database_config(env.str("DATABASE_URL", default=""))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ATOMIC_REQUESTS = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGIN_URL = "admin:login"
# Login attempt limits (django-axes) for the dashboard and admin logins: after
# LOGIN_FAILURE_LIMIT failures for one user name, or from one address, further attempts
# are refused with 429 for LOGIN_LOCKOUT_MINUTES - the right password included. Counted
# in the cache (Redis): a flood of bad logins writes no row.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend checking at most LOGIN_CONCURRENT_CHECKS passwords at once per process:
    # a flood of logins from ever new addresses cannot take every request thread.
    "common.backends.BoundedModelBackend",
]
LOGIN_CONCURRENT_CHECKS = env.int("LOGIN_CONCURRENT_CHECKS", default=1)
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "common.api.client_ip"
AXES_RESET_ON_SUCCESS = True
# A login ends after this long without the user doing anything (common/sessions.py): at
# its next request, and its dashboard sockets at that moment. The stored session and its
# cookie expire with it.
SESSION_IDLE_SECONDS = env.int("SESSION_IDLE_MINUTES", default=8 * 60) * 60
SESSION_COOKIE_AGE = SESSION_IDLE_SECONDS
# Messages live in the session (server side), not in a cookie: a cookie is signed, not
# encrypted, and some messages carry what is shown once (a new webhook secret).
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# --- Redis: Celery broker, Channels layer, cache -------------------------------------------
# REDIS_URL is required outside local/test; those start an embedded server when unset.
REDIS_URL = env.str("REDIS_URL", default="")


def redis_settings(redis_url: str) -> dict:
    """Broker, channel layer and cache all on one Redis, on separate logical databases."""
    base = redis_url.rstrip("/")
    if base.rsplit("/", 1)[-1].isdigit():
        base = base.rsplit("/", 1)[0]
    return {
        "CELERY_BROKER_URL": f"{base}/0",
        "CHANNEL_LAYERS": {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                # A receive blocks on Redis for up to channels_redis' 5 s (BZPOPMIN);
                # redis-py 8 gives up on a socket after 5 s by default, so every idle
                # receive raised TimeoutError and closed the dashboard's socket. The read
                # timeout must outlast the blocking call; a dead Redis still shows.
                "CONFIG": {
                    "hosts": [
                        {
                            "address": f"{base}/1",
                            "socket_timeout": 15,
                            "socket_connect_timeout": 2,
                        }
                    ]
                },
            }
        },
        "CACHES": {
            "default": {
                "BACKEND": "common.cache.RedisCache",
                "LOCATION": f"{base}/2",
                "KEY_PREFIX": "tp",
                # A cache read must never hang a request (or /healthz) on a dead Redis.
                "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
            }
        },
    }


# --- Celery (read by trading_site/celery.py with namespace CELERY) --------------------------
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 90
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES_NAMES = ("orders", "sync", "strategies", "default")
CELERY_TASK_ROUTES = {
    # Exact names win over patterns: polling is sync work, whatever app owns it.
    "orders.orders_poll": {"queue": "sync"},
    "orders.orders_poll_all": {"queue": "sync"},
    "orders.*": {"queue": "orders"},
    "accounts.*": {"queue": "sync"},
    "marketdata.*": {"queue": "sync"},
    "positions.*": {"queue": "sync"},
    "strategies.*": {"queue": "strategies"},
    "risk.*": {"queue": "sync"},
}
# With acks_late a task stays reserved in Redis until it finishes; the visibility
# timeout must exceed the longest task or Redis hands it to a second worker.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes database connections after every task unless this is set;
# trading_site/celery.py closes them by Django's own rules (CONN_MAX_AGE, health checks).
CELERY_DB_REUSE_MAX = 1_000_000_000
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"


def every(task: str, seconds: float, *, expires: float | None = None) -> dict:
    """A beat entry. A message nobody consumed within ``expires`` (default: one period)
    is dropped by the broker: a stale sweep or heartbeat is worthless."""
    return {"task": task, "schedule": seconds, "options": {"expires": expires or seconds}}


# The DatabaseScheduler writes these entries into its tables at beat start-up (by name,
# idempotently); the rest of the schedule is managed in the admin.
CELERY_BEAT_SCHEDULE = {
    "common.beat_heartbeat": every("common.beat_heartbeat", 10.0, expires=30),
    # Every order whose next step is overdue (a retry or lookup whose countdown was lost
    # with its worker, a send still queued after its grace) gets that step.
    "orders.orders_reconcile_sweep": every(
        "orders.orders_reconcile_sweep", env.float("ORDERS_SWEEP_SECONDS", default=5.0)
    ),
    # REST polling of open orders and trades: what the stream missed arrives here.
    "orders.orders_poll_all": every(
        "orders.orders_poll_all", env.float("ORDERS_POLL_SECONDS", default=30.0)
    ),
    "positions.accounts_sync_all": every(
        "positions.accounts_sync_all", env.float("POSITIONS_SYNC_SECONDS", default=30.0)
    ),
    # Warm last prices: the risk gate and valuations read them from the cache.
    "positions.prices_refresh_all": every(
        "positions.prices_refresh_all", env.float("PRICES_REFRESH_SECONDS", default=10.0)
    ),
    "positions.snapshots_take": every(
        "positions.snapshots_take", env.float("BALANCE_SNAPSHOT_SECONDS", default=300.0)
    ),
    # Breakers trip on price moves alone too, not only when an order is checked.
    "risk.breakers_check_all": every(
        "risk.breakers_check_all", env.float("BREAKERS_CHECK_SECONDS", default=30.0)
    ),
    "accounts.markets_refresh": every("accounts.markets_refresh", 3600.0, expires=600),
    "accounts.markets_warm": every("accounts.markets_warm", 30.0, expires=30),
}
CELERY_TIMEZONE = "UTC"

# --- Django REST framework -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # drf-spectacular's, with the error answers each operation can give (common/schema.py).
    "DEFAULT_SCHEMA_CLASS": "common.schema.AutoSchema",
    # DRF's JSON parser, refusing with a 400 what it let through to a 500: nesting past
    # the recursion limit, NUL and lone surrogates in strings (common/parsers.py). No
    # multipart: the API takes no files, and daphne (Twisted) parses a multipart body
    # before Django does, answering a malformed one with a bare 400 of its own.
    "DEFAULT_PARSER_CLASSES": [
        "common.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
    ],
    # DRF's two, the browsable one with the inline styles its template needs (CSP).
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "common.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "common.api.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    # Query parameters of the lists are parsed by FilterSets (<app>/api/filters.py): a
    # parameter that is not what it says is a 400 naming it.
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # Every list is paged, 100 rows by default and at most 500 (common/pagination.py).
    "DEFAULT_PAGINATION_CLASS": "common.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    # A fixed window per identity, one Redis INCR per request (common/throttling.py).
    # Generous for a trading API (100 requests/s per user); the webhook is limited per
    # source; anonymous requests (only the views that allow them) per address.
    "DEFAULT_THROTTLE_CLASSES": [
        "common.throttling.UserThrottle",
        "common.throttling.AnonThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("API_RATE_USER", default="6000/min"),
        "anon": env.str("API_RATE_ANON", default="120/min"),
        "webhook": env.str("WEBHOOK_RATE_PER_SOURCE", default="600/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Trading platform API",
    "DESCRIPTION": "Place and cancel orders, send signals, read accounts, positions and risk.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its Swagger UI are for our users, not the public; and the UI comes
    # from our own static files (drf-spectacular-sidecar), not a CDN at @latest.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Choice sets that share a field name across models get names of their own.
    "ENUM_NAME_OVERRIDES": {
        "OrderSideEnum": "orders.models.Order.Side",
        "PositionSideEnum": "positions.models.Position.Side",
        "OrderStatusEnum": "orders.models.Order.StatusChoices",
        "PositionStatusEnum": "positions.models.Position.Status",
        "SignalStatusEnum": "strategies.models.Signal.Status",
        "SubscriptionKindEnum": "marketdata.models.Subscription.Kind",
        "SubscriptionOriginEnum": "marketdata.models.Subscription.Origin",
        "OrderOriginEnum": "orders.models.Order.Origin",
    },
}

# API tokens (accounts.models.ApiToken): how long a new one works unless asked otherwise,
# and the longest a user may ask for.
API_TOKEN_DAYS = env.int("API_TOKEN_DAYS", default=90)
API_TOKEN_MAX_DAYS = env.int("API_TOKEN_MAX_DAYS", default=365)

# --- Exchange API secrets --------------------------------------------------------------------
# django-fernet-encrypted-fields derives Fernet keys from SECRET_KEY (+ fallbacks) and
# SALT_KEY. We keep a dedicated key list instead (common.fields), so that rotating
# Django's SECRET_KEY never makes stored exchange credentials unreadable.
# First key encrypts; every key decrypts (rotation: prepend a new key, re-save, drop the old).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
SALT_KEY = env.list("FIELD_ENCRYPTION_SALT", default=["trading-platform"])

# --- The platform ---------------------------------------------------------------------------
# Where the local exchange simulator listens; accounts in `simulator` mode talk to it.
SIMULATOR_URL = env.str("SIMULATOR_URL", default="http://127.0.0.1:8765")
# How long loaded markets stay in the shared cache. Beat reloads them hourly
# (accounts.markets_refresh), well inside this, so an order never waits for them.
MARKETS_CACHE_SECONDS = env.int("MARKETS_CACHE_SECONDS", default=3 * 3600)
# Network timeout of every ccxt client, in milliseconds.
EXCHANGE_TIMEOUT_MS = env.int("EXCHANGE_TIMEOUT_MS", default=10_000)
# Exchange work a request asks for (connection test, sync now, candles) runs on the sync
# worker (accounts.jobs); each user may have this many such jobs queued or running.
EXCHANGE_JOBS_PER_USER = env.int("EXCHANGE_JOBS_PER_USER", default=4)
# /healthz: beat counts as stale when its heartbeat is older than this.
HEALTH_BEAT_MAX_AGE_SECONDS = env.int("HEALTH_BEAT_MAX_AGE_SECONDS", default=120)
# Every worker stamps a heartbeat per queue it consumes this often; /healthz counts the
# orders worker as down when the stamp is older than the maximum age.
HEALTH_WORKER_HEARTBEAT_SECONDS = env.float("HEALTH_WORKER_HEARTBEAT_SECONDS", default=5.0)
HEALTH_WORKER_MAX_AGE_SECONDS = env.int("HEALTH_WORKER_MAX_AGE_SECONDS", default=30)
# /healthz: checks of the domain apps, by name (common must not import them).
HEALTH_EXTRA_CHECKS = {"sync": "accounts.health.check_syncs"}
# /healthz fails, naming the account and kind, when an active account's trades, orders,
# positions or balances sync failed this many times in a row; polling raises an alert.
HEALTH_SYNC_MAX_ERRORS = env.int("HEALTH_SYNC_MAX_ERRORS", default=3)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "ccxt": {"level": "WARNING"},
    },
}

# --- Orders -------------------------------------------------------------------------------
# The `streams` process runs one websocket stream per active account; each app listed
# here contributes what it watches on it and how it catches up after a reconnect.
STREAM_APPS = ["orders.streams.STREAM", "positions.streams.STREAM"]
# Services the streams process runs beside the account streams: async callables taking
# the process's stopping event (public market data: marketdata.streams).
STREAM_SERVICES = ["marketdata.streams.watch_markets"]
# A book older than this is never served as fresh (marketdata.selectors.book_top).
MARKETDATA_BOOK_MAX_AGE_SECONDS = env.float("MARKETDATA_BOOK_MAX_AGE_SECONDS", default=5.0)
# Candles a new candle stream backfills first, so a strategy has history at once.
MARKETDATA_STREAM_WARMUP = env.int("MARKETDATA_STREAM_WARMUP", default=1000)
# A rate-limited send (nothing placed) is retried with backoff this many times in all.
ORDER_MAX_SEND_ATTEMPTS = env.int("ORDER_MAX_SEND_ATTEMPTS", default=5)
# After an unknown outcome, first ask the venue for the order (by client order id) after:
ORDER_RECONCILE_AFTER_SECONDS = env.float("ORDER_RECONCILE_AFTER_SECONDS", default=1.0)
# An order the venue still does not know this long after it was sent can never arrive:
# Binance rejects a request older than its recvWindow (ccxt sends 10 s), plus clock skew.
# Only then is it sent again.
ORDER_RESEND_AFTER_SECONDS = env.float("ORDER_RESEND_AFTER_SECONDS", default=15.0)
# A `submitting` order older than this lost its worker (crash, SIGKILL) mid-send.
ORDER_SUBMITTING_TIMEOUT_SECONDS = env.float("ORDER_SUBMITTING_TIMEOUT_SECONDS", default=30.0)
# A step handed to a task (a send just queued, a cancel, a lookup) counts as lost when
# the order has not moved on this long after: the sweep then performs it itself. Short
# enough to recover within seconds, long enough that a task merely waiting its turn in
# the queue is not doubled needlessly (a doubled step is harmless: each claims its work).
ORDER_STEP_GRACE_SECONDS = env.float("ORDER_STEP_GRACE_SECONDS", default=10.0)
# A cancel whose outcome was unknown (5xx, timeout) is looked up, and sent again while the
# order is still open, after this; doubled at each further unknown outcome, up to 30 s.
ORDER_CANCEL_RETRY_SECONDS = env.float("ORDER_CANCEL_RETRY_SECONDS", default=1.0)
# An order we believe is on the exchange that the exchange does not know is looked up
# again for this long (a venue answering from a lagging replica), then closed as lost.
ORDER_LOST_AFTER_SECONDS = env.float("ORDER_LOST_AFTER_SECONDS", default=60.0)
# A balance or position that differs from our fills becomes a drift row only when the
# difference lasts this long: longer than polling takes to bring a fill the stream lost.
DRIFT_CONFIRM_SECONDS = env.float("DRIFT_CONFIRM_SECONDS", default=90.0)

# --- Exchange request budgets (accounts.ratelimit) ------------------------------------------
# One budget per exchange account in Redis, shared by every process. Overrides of
# accounts.ratelimit.DEFAULT_LIMITS by "<exchange id>:<market type>", e.g.
# {"binance:spot": {"weight": [{"limit": 2400, "seconds": 60, "burst": 300}]}}.
EXCHANGE_RATE_LIMITS: dict = {}
# Sync and polling may use this share of a burst; the rest is kept for orders.
EXCHANGE_RATE_LIMIT_SYNC_SHARE = env.float("EXCHANGE_RATE_LIMIT_SYNC_SHARE", default=0.7)
# Longest wait for the budget before a request fails as not sent (RateLimitExceeded).
EXCHANGE_RATE_LIMIT_MAX_WAIT_SECONDS = {"orders": 5.0, "sync": 30.0}
EXCHANGE_RATE_LIMIT_KEY_PREFIX = "ratelimit"

# --- Positions and portfolio ----------------------------------------------------------------
# The currency every portfolio figure is given in.
PORTFOLIO_REFERENCE_ASSET = env.str("PORTFOLIO_REFERENCE_ASSET", default="USDT")
# "Today" for P&L: the calendar day in this time zone.
PNL_TIME_ZONE = env.str("PNL_TIME_ZONE", default="UTC")
# Last prices are fetched once per venue (beat, every PRICES_REFRESH_SECONDS) and kept
# this long; the risk gate reads them from the cache only.
PRICES_CACHE_SECONDS = env.int("PRICES_CACHE_SECONDS", default=30)

# --- Requests behind proxies ---------------------------------------------------------------
# How many proxies we run in front of daphne: the webhook IP allowlist takes the client's
# address that many hops from the right of X-Forwarded-For (0: REMOTE_ADDR).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Risk -----------------------------------------------------------------------------------
# Every order passes the risk gate (orders.order_submit) and the send guard (the kill
# switch, checked again when a queued order is about to leave).
ORDER_GATE = "risk.services.RiskGate"
ORDER_SEND_GUARD = "risk.services.send_guard"
# The exchange-failure breaker trips after this many failed calls in a row on an account.
RISK_BREAKER_EXCHANGE_FAILURES = env.int("RISK_BREAKER_EXCHANGE_FAILURES", default=5)
