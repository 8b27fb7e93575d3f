"""Django settings of the floor stack: what the platform's web and worker run on, no more.

The same servers and settings that decide the order path's cost: PostgreSQL through
psycopg (a connection pool in the web process, a persistent connection in the worker),
Celery on Redis with the platform's task settings (JSON, late acks, prefetch 1), DEBUG
off. No apps, no middleware.
"""

from __future__ import annotations

import os

import environ

SECRET_KEY = "stack-floor-bench-only"  # noqa: S105 - a bench on loopback, no sessions
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.stack_floor_site.urls"
DATABASES = {"default": environ.Env.db_url_config(os.environ["DATABASE_URL"])}
if os.environ.get("DATABASE_POOL") == "true":
    # The web process, as the platform's (trading_site/settings/base.py): its request
    # threads borrow pooled connections.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {"pool": {"min_size": 2, "max_size": 10, "timeout": 10}}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = None

# Set by bench/stack_floor.py: its broker database and the simulator accounts.
BROKER_URL = os.environ["STACK_FLOOR_BROKER_URL"]
SIMULATOR_URL = os.environ["SIMULATOR_URL"]
