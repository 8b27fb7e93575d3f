"""The Celery application. Settings live in Django settings under the CELERY_ namespace."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings.local")

app = Celery("trading_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Queues by urgency: `orders` apart from `sync` and `strategies`, so a slow sync
# never delays an order. Workers choose queues with -Q.
app.conf.task_queues = [Queue(name) for name in ("orders", "sync", "strategies", "default")]
app.autodiscover_tasks()
