"""The database, not the broker, holds every order's next step: a retry or lookup whose
countdown task died with its worker is performed by the sweep once ``next_step_at`` has
passed, in any non-terminal state. Time is moved by moving ``next_step_at``, not by
sleeping."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from orders import services, tasks
from orders.models import Order
from orders.services import DueStep
from orders.states import Status
from orders.tests.factories import OrderFactory
from orders.tests.test_faults import fault
from orders.tests.test_lifecycle import event_types, send, submit, venue_orders

pytestmark = pytest.mark.django_db


def overdue(order):
    """The moment its countdown would have fired has passed (the task never ran)."""
    Order.objects.filter(pk=order.pk).update(next_step_at=timezone.now() - timedelta(seconds=1))


def perform(step: DueStep):
    """What the sweep's task queues, run here and now."""
    if step.step == "send":
        return services.order_send(order_id=step.order_id)
    return services.order_reconcile(order_id=step.order_id)


def test_a_rate_limited_order_whose_retry_was_lost_is_sent_by_the_sweep(make_sim_account, sim):
    account = make_sim_account()
    order = submit(account, amount=Decimal("0.01"))
    fault(sim, action="status", status=429)
    result = send(order)
    assert result.outcome == "retry"
    assert order.status == Status.PENDING
    assert order.next_step_at is not None
    # The worker holding the countdown was killed: nothing else will send it.
    assert services.orders_due_steps() == []
    overdue(order)

    steps = services.orders_due_steps()
    assert steps == [DueStep(order.pk, "send")]
    perform(steps[0])

    order.refresh_from_db()
    assert order.status == Status.FILLED
    assert order.next_step_at is None
    assert venue_orders(sim, account)["orders"] == 1


def test_a_cancel_whose_retry_was_lost_is_cancelled_on_the_venue_by_the_sweep(
    make_sim_account, sim
):
    account = make_sim_account()
    order = submit(account, type="limit", amount=Decimal("0.1"), price=Decimal("59000"))
    send(order)
    services.order_cancel(order=order, actor="test")
    fault(sim, method="DELETE", action="status", status=429)
    assert services.order_cancel_send(order_id=order.pk) == "retry"
    overdue(order)

    steps = services.orders_due_steps()
    assert steps == [DueStep(order.pk, "reconcile")]
    # The sweep asks the venue first: still open there, so the cancel goes again.
    assert perform(steps[0]).outcome == "cancel"
    assert services.order_cancel_send(order_id=order.pk) == "done"

    order.refresh_from_db()
    assert order.status == Status.CANCELED
    assert venue_orders(sim, account)["open_orders"] == []


def test_a_step_queued_by_the_sweep_while_the_original_task_still_runs_sends_once(
    make_sim_account, sim
):
    account = make_sim_account()
    order = submit(account, amount=Decimal("0.01"))
    overdue(order)  # a send task merely late in the queue looks just like a lost one
    steps = services.orders_due_steps()
    assert steps == [DueStep(order.pk, "send")]

    perform(steps[0])
    assert services.order_send(order_id=order.pk).outcome == "skipped"  # the late original

    order.refresh_from_db()
    assert order.status == Status.FILLED
    assert venue_orders(sim, account)["orders"] == 1
    assert event_types(order).count("order.submitting") == 1


def test_a_claimed_step_is_not_queued_again_by_the_next_sweep_within_the_grace(
    make_sim_account,
):
    account = make_sim_account()
    order = OrderFactory(account=account, status=Status.UNKNOWN)
    overdue(order)

    assert services.orders_due_steps() == [DueStep(order.pk, "reconcile")]
    assert services.orders_due_steps() == []
    order.refresh_from_db()
    assert order.next_step_at > timezone.now()


def test_a_pending_order_just_queued_is_left_to_its_task_for_the_grace(make_sim_account, settings):
    account = make_sim_account()
    order = OrderFactory(account=account, status=Status.PENDING)
    assert services.orders_due_steps() == []

    Order.objects.filter(pk=order.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.ORDER_STEP_GRACE_SECONDS + 1)
    )
    assert services.orders_due_steps() == [DueStep(order.pk, "send")]


def test_every_non_terminal_state_is_swept_and_ended_orders_lose_their_step(make_sim_account):
    account = make_sim_account()
    live = {
        status: OrderFactory(account=account, status=status)
        for status in ("pending", "submitting", "unknown", "open", "cancel_requested")
    }
    ended = [
        OrderFactory(account=account, status=status)
        for status in ("filled", "canceled", "rejected", "expired")
    ]
    for order in [*live.values(), *ended]:
        overdue(order)

    steps = services.orders_due_steps()

    assert {step.order_id: step.step for step in steps} == {
        live["pending"].pk: "send",
        live["submitting"].pk: "reconcile",
        live["unknown"].pk: "reconcile",
        live["open"].pk: "reconcile",
        live["cancel_requested"].pk: "reconcile",
    }
    assert not Order.objects.filter(pk__in=[o.pk for o in ended], next_step_at__isnull=False)


def test_the_sweep_task_queues_each_due_step_and_never_runs_twice_at_once(
    make_sim_account, monkeypatch
):
    from common.tasks import exclusive

    account = make_sim_account()
    pending = OrderFactory(account=account, status=Status.PENDING)
    unknown = OrderFactory(account=account, status=Status.UNKNOWN)
    overdue(pending)
    overdue(unknown)
    queued = []
    monkeypatch.setattr(tasks.order_send, "delay", lambda pk: queued.append(("send", pk)))
    monkeypatch.setattr(tasks.order_reconcile, "delay", lambda pk: queued.append(("look", pk)))

    with exclusive("orders_reconcile_sweep", seconds=30):
        tasks.orders_reconcile_sweep.run()  # another sweep is running: this one skips
    assert queued == []
    tasks.orders_reconcile_sweep.run()

    assert sorted(queued) == sorted([("send", pending.pk), ("look", unknown.pk)])
