"""Thin Celery tasks of the orders app: ids in, one service call, scheduling of what's next.

All run on the ``orders`` queue (CELERY_TASK_ROUTES), apart from sync and strategies,
so a slow sync never delays an order. Each is safe to run twice: the services claim
their work with conditional updates.

A countdown here is only the fast path: the services write each next step to the
order's ``next_step_at`` too, and ``orders_reconcile_sweep`` performs every overdue one -
a countdown held by a killed worker comes back only after the broker's visibility
timeout (an hour).
"""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready
from django.core.cache import cache

from common.tasks import exclusive
from orders import services


@shared_task(name="orders.order_send", ignore_result=True, acks_late=True)
def order_send(order_id: int) -> None:
    result = services.order_send(order_id=order_id)
    if result.outcome == "retry":
        order_send.apply_async((order_id,), countdown=result.delay)
    elif result.outcome == "reconcile":
        order_reconcile.apply_async((order_id,), countdown=result.delay)


@shared_task(name="orders.order_reconcile", ignore_result=True)
def order_reconcile(order_id: int) -> None:
    result = services.order_reconcile(order_id=order_id)
    if result.outcome == "resend":
        order_send.delay(order_id)
    elif result.outcome == "cancel":
        order_cancel_send.delay(order_id)
    elif result.outcome in ("wait", "retry"):
        order_reconcile.apply_async((order_id,), countdown=result.delay)


@shared_task(name="orders.order_cancel_send", ignore_result=True)
def order_cancel_send(order_id: int) -> None:
    outcome = services.order_cancel_send(order_id=order_id)
    if outcome == "retry":
        countdown = services.order_next_step_delay(order_id=order_id)
        order_cancel_send.apply_async((order_id,), countdown=countdown)
    elif outcome == "reconcile":
        countdown = services.order_next_step_delay(order_id=order_id)
        order_reconcile.apply_async((order_id,), countdown=countdown)


@shared_task(name="orders.order_followups", ignore_result=True)
def order_followups(order_id: int) -> None:
    services.order_followups(order_id=order_id)


@shared_task(name="orders.orders_reconcile_sweep", ignore_result=True)
def orders_reconcile_sweep() -> None:
    """Beat: every order whose next step is overdue gets a task performing it."""
    # Never two sweeps at once (a slow one outlasting its period); the claim in
    # orders_due_steps keeps a late second one from queueing a step twice anyway.
    with exclusive("orders_reconcile_sweep", seconds=60) as mine:
        if mine:
            tasks = {
                "send": order_send,
                "replace": order_replace_send,
                "reconcile": order_reconcile,
            }
            for due in services.orders_due_steps():
                tasks[due.step].delay(due.order_id)


@shared_task(name="orders.orders_poll_all", ignore_result=True)
def orders_poll_all() -> None:
    """Beat: poll every active account's open orders and trades (the stream's safety net)."""
    from accounts.selectors import active_accounts

    for account_id in active_accounts().values_list("pk", flat=True):
        orders_poll.delay(account_id)


@shared_task(name="orders.orders_poll", ignore_result=True)
def orders_poll(account_id: int) -> None:
    # Never two polls of one account at once (a slow venue, a backed-up queue).
    with exclusive(f"orders_poll:{account_id}", seconds=120) as mine:
        if mine:
            services.orders_poll(account_id=account_id)


@shared_task(name="orders.orders_recheck_all", ignore_result=True)
def orders_recheck_all() -> None:
    """Start-up: every order the venue may hold is asked for again."""
    for order_id in services.orders_to_recheck():
        order_reconcile.delay(order_id)


@worker_ready.connect(weak=False)
def _recheck_on_start(sender=None, **kwargs) -> None:
    # One worker of many does it: the first to take the key in the next minute.
    if cache.add("orders:recheck-on-start", 1, timeout=60):
        orders_recheck_all.delay()


@shared_task(name="orders.order_amend_send", ignore_result=True)
def order_amend_send(event_id: int) -> None:
    outcome = services.order_amend_send(event_id=event_id)
    if outcome == "retry":
        order_amend_send.apply_async((event_id,), countdown=1.0)


@shared_task(name="orders.order_replace_send", ignore_result=True)
def order_replace_send(order_id: int) -> None:
    outcome = services.order_replace_send(order_id=order_id)
    if outcome == "retry":
        order_replace_send.apply_async((order_id,), countdown=1.0)
    elif outcome == "reconcile":
        order_reconcile.apply_async((order_id,), countdown=1.0)
