"""The Celery application. Settings live in Django settings under the CELERY_ namespace."""

from __future__ import annotations

import os

from celery import Celery, signals
from django.db import close_old_connections
from kombu import Queue

from common.runtime import settle_heap

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings.local")

app = Celery("trading_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Queues by urgency: `orders` apart from `sync` and `strategies`, so a slow sync
# never delays an order. Workers choose queues with -Q.
app.conf.task_queues = [Queue(name) for name in ("orders", "sync", "strategies", "default")]
app.autodiscover_tasks()


# Database connections live as long as CONN_MAX_AGE says, as for web requests. Celery's
# Django fixup would otherwise close them before and after every task (it calls close(),
# not close_if_unusable_or_obsolete()), so each order would open a new PostgreSQL
# connection - about 3 ms measured on the send path. CELERY_DB_REUSE_MAX (settings) turns
# the fixup's closing off; these handlers keep Django's own rules: a connection past its
# age or broken by an error is closed, a healthy one is reused.
@signals.task_prerun.connect
@signals.task_postrun.connect
def _close_old_connections(sender=None, **kwargs) -> None:
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()


# Start-up is done when the worker (before forking its pool) and each pool process are
# ready: freeze what they hold so full collections skip it (common/runtime.py).
@signals.worker_init.connect
@signals.worker_process_init.connect
def _settle_heap(**kwargs) -> None:
    settle_heap()
