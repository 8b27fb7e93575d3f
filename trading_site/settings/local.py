"""Development and the one-command demo: safe defaults, embedded services when unset."""

from __future__ import annotations

import os
from pathlib import Path

from common.keys import DEVELOPMENT_FIELD_KEY, install_key, private_dir

from .base import *  # noqa: F403
from .base import VAR_DIR, env, redis_settings

# Off unless asked for (DJANGO_DEBUG=1): a `make run` install may hold real keys, and a
# technical 500 page shows settings, local variables and SQL to whoever triggers it.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="insecure-local-development-key-do-not-deploy")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
# var/ holds the database, the embedded Redis's files and the install's key: its owner's
# only.
private_dir(VAR_DIR)
# This install's own key (made once under var/, 0600) encrypts; the development key that
# earlier releases committed here stays after it, decrypt-only, for credentials stored
# with it (Fernet rotation: the first key encrypts, all decrypt; re-saving a credential
# re-encrypts it with the install's key). Production refuses the development key.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[]) or [
    install_key(VAR_DIR),
    DEVELOPMENT_FIELD_KEY,
]

REDIS_URL = env.str("REDIS_URL", default="")
if not REDIS_URL:
    from common.embedded_redis import ensure_redis_url

    REDIS_URL = ensure_redis_url(VAR_DIR)
globals().update(redis_settings(REDIS_URL))

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # Sessions, API tokens and encrypted credentials live in it: created 0600, not 0644
    # (SQLite gives its -wal and -shm files the database file's mode).
    _db = Path(DATABASES["default"]["NAME"])  # noqa: F405
    os.close(os.open(_db, os.O_CREAT | os.O_WRONLY, 0o600))
    _db.chmod(0o600)

# Static files from the app folders, no collectstatic step (WhiteNoise finders).
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None
