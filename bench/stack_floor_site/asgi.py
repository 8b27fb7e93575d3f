"""The floor stack's ASGI application, served by daphne as the platform's web is: Django's
handler on the platform's long-lived request threads (common/asgi.py), with a database
connection pool - the platform's own arrangement, without which every request would
start a thread and open a new PostgreSQL connection."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.stack_floor_site.settings")
os.environ.setdefault("DATABASE_POOL", "true")

from common.asgi import PersistentThreads

application = PersistentThreads(get_asgi_application(), threads=4)
