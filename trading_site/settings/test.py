"""The test suite: real PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set (CI),
otherwise SQLite and an embedded Redis, exactly like `make run`."""

from __future__ import annotations

from .base import *  # noqa: F403
from .base import VAR_DIR, env, redis_settings

DEBUG = False
SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
FIELD_ENCRYPTION_KEYS = ["2PUdC-W5ihO3ZOagRKBr4eCRxZp2Uu26qx5H0LuiVkQ="]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A process a test starts may check passwords as production does (the abuse test: a login
# attempt costs there what it costs in production); MD5 last, for the tests' own users.
if env.bool("TEST_PRODUCTION_PASSWORD_HASHING", default=False):
    from django.conf import global_settings

    PASSWORD_HASHERS = [*global_settings.PASSWORD_HASHERS, *PASSWORD_HASHERS]

REDIS_URL = env.str("REDIS_URL", default="")
if not REDIS_URL:
    from common.embedded_redis import ensure_redis_url

    REDIS_URL = ensure_redis_url(VAR_DIR / "test")
globals().update(redis_settings(REDIS_URL))
# Tests that are about the channel layer use it through channels' testing tools;
# an in-memory layer keeps them independent of the Redis that Celery tests use.
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# Except where a test runs processes that must reach each other's sockets (daphne, a
# worker, the test itself: browser tests, the push latency bench): they all share a Redis
# layer, under a prefix of that run's own so concurrent runs never see each other's groups.
if TEST_CHANNEL_LAYER_PREFIX := env.str("TEST_CHANNEL_LAYER_PREFIX", default=""):
    CHANNEL_LAYERS = redis_settings(REDIS_URL)["CHANNEL_LAYERS"]
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = TEST_CHANNEL_LAYER_PREFIX
# Each test process gets its own cache prefix so parallel runs never share state; a
# process a test starts may be given the test's own (a worker whose heartbeat it reads).
CACHES["default"]["KEY_PREFIX"] = env.str(  # noqa: F405
    "TEST_CACHE_KEY_PREFIX", default=f"test-{__import__('os').getpid()}"
)

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file instead of pytest-django's in-memory database, so that processes a test starts
    # (a Celery worker, `manage.py streams`) open the same test database; one per test run,
    # since several runs may share this checkout.
    (VAR_DIR / "test").mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(VAR_DIR / "test" / f"test_db_{__import__('os').getpid()}.sqlite3")
    }

# Static files from the app folders, no collectstatic step (WhiteNoise finders).
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None

# No connection pool in tests: its idle connections would keep the test database from
# being dropped at the end of the run (and threads in tests open their own anyway).
if DATABASES["default"].get("OPTIONS", {}).pop("pool", None) is not None:  # noqa: F405
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
