"""Development and the one-command demo: safe defaults, embedded services when unset."""

from __future__ import annotations

from .base import *  # noqa: F403
from .base import VAR_DIR, env, redis_settings

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="insecure-local-development-key-do-not-deploy")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
# A fixed development key, so the demo's stored credentials survive restarts.
# Never used in production, which refuses to start without FIELD_ENCRYPTION_KEYS.
FIELD_ENCRYPTION_KEYS = env.list(
    "FIELD_ENCRYPTION_KEYS", default=["CwhxhlZVH3ye43a03qrozS9z9JddDaKIDQorCm-XHRQ="]
)

REDIS_URL = env.str("REDIS_URL", default="")
if not REDIS_URL:
    from common.embedded_redis import ensure_redis_url

    REDIS_URL = ensure_redis_url(VAR_DIR)
globals().update(redis_settings(REDIS_URL))

# Static files from the app folders, no collectstatic step (WhiteNoise finders).
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None
