"""The Celery application. Settings live in Django settings under the CELERY_ namespace."""

from __future__ import annotations

import logging
import os

from celery import Celery, bootsteps, signals
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
logger = logging.getLogger(__name__)


class QueueHeartbeat(bootsteps.StartStopStep):
    """Stamps "a worker consumes these queues, now" in the cache every
    HEALTH_WORKER_HEARTBEAT_SECONDS from the consumer's own timer, for /healthz to read
    (common.health.check_worker). A consumer that lost the broker is stopped, and so is
    its heartbeat."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, **kwargs):
        self.tref = None
        super().__init__(parent, **kwargs)

    def start(self, parent) -> None:
        from django.conf import settings

        queues = sorted(queue.name for queue in parent.task_consumer.queues)
        self._stamp(queues)
        self.tref = parent.timer.call_repeatedly(
            settings.HEALTH_WORKER_HEARTBEAT_SECONDS, self._stamp, (queues,), priority=10
        )

    def stop(self, parent) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    shutdown = stop

    @staticmethod
    def _stamp(queues: list[str]) -> None:
        from common.health import record_worker_heartbeat

        try:
            record_worker_heartbeat(queues)
        except Exception as exc:  # noqa: BLE001 - a missed stamp shows as a stale heartbeat
            logger.warning("worker heartbeat not recorded: %s", exc)


app.steps["consumer"].add(QueueHeartbeat)


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
