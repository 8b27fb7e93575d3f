"""ASGI entry point (daphne): HTTP through Django, websockets through Channels."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application
from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings.local")
# A connection pool for the web process only (see database_config in settings/base.py).
os.environ.setdefault("DATABASE_POOL", "true")

# Django must be set up before the routing imports consumers (and through them models).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from common.asgi import PersistentThreads  # noqa: E402
from common.runtime import settle_heap  # noqa: E402
from trading_site.routing import websocket_urlpatterns  # noqa: E402


def _web_threads() -> int:
    value = os.environ.get("WEB_THREADS", "4").strip()
    if not value.isdigit() or int(value) < 1:
        raise ImproperlyConfigured(
            f"WEB_THREADS must be a whole number of request threads, 1 or more; got {value!r}."
        )
    return int(value)


application = ProtocolTypeRouter(
    {
        "http": PersistentThreads(django_asgi_app, threads=_web_threads()),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

# Load the URLconf now (it imports the admin and every app's views), then settle the heap:
# start-up objects leave the garbage collector's full walks (common/runtime.py).
get_resolver().url_patterns  # noqa: B018
settle_heap()
