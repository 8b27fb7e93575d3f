"""The floor stack's ASGI application, served by daphne as the platform's web is."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.stack_floor_site.settings")
application = get_asgi_application()
