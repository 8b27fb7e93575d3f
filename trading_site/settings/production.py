"""Production: no insecure defaults. A missing secret stops the process at start-up."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from common.checks import field_key_problems

from .base import *  # noqa: F403
from .base import database_config, env, redis_settings


def required(name: str, value):
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set. Production settings have no default for it; "
            f"set it in the environment (see README, 'Production')."
        )
    return value


DEBUG = False
SECRET_KEY = required("DJANGO_SECRET_KEY", env.str("DJANGO_SECRET_KEY", default=""))
ALLOWED_HOSTS = required("DJANGO_ALLOWED_HOSTS", env.list("DJANGO_ALLOWED_HOSTS", default=[]))
FIELD_ENCRYPTION_KEYS = required(
    "FIELD_ENCRYPTION_KEYS", env.list("FIELD_ENCRYPTION_KEYS", default=[])
)
# Also a system check (common.checks, `check --deploy`); here it stops every process at
# start-up, as a missing secret does.
if _key_problems := field_key_problems(FIELD_ENCRYPTION_KEYS):
    raise ImproperlyConfigured(" ".join(message for message, _ in _key_problems))
DATABASES = {
    "default": database_config(required("DATABASE_URL", env.str("DATABASE_URL", default="")))
}
REDIS_URL = required("REDIS_URL", env.str("REDIS_URL", default=""))
globals().update(redis_settings(REDIS_URL))

# Real exchanges only, unless a simulator is named for a rehearsal: no default pointing at
# one (its control API has no authentication). Simulator-mode accounts are refused
# without it (accounts.gateway).
SIMULATOR_URL = env.str("SIMULATOR_URL", default="")

# HTTPS is terminated by the load balancer in front of daphne.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# daphne serves no static files: `manage.py collectstatic` (the Dockerfile runs it) fills
# STATIC_ROOT, and the TLS-terminating proxy in front serves it under STATIC_URL.

# Collected at build time (Dockerfile); hashed names, compressed, cached forever.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# One load balancer in front of daphne (README, "Production").
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1)
