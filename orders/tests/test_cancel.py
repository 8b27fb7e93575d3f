"""A cancel is retried until the venue confirms the order closed: whatever happens to the
request (5xx, an answer dropped after the venue acted, a rate limit, a lost task), the
order never stays ``cancel_requested`` while it keeps working on the venue."""

from decimal import Decimal

import pytest

from common.tasks import exclusive
from orders import services, tasks
from orders.states import Status
from orders.tests.test_lifecycle import event_types, send, submit, venue_orders

pytestmark = pytest.mark.django_db

CANCEL_PATH = "/api/v3/order"


def resting_order(make_sim_account):
    account = make_sim_account()
    order = submit(account, type="limit", amount=Decimal("0.1"), price=Decimal("59000"))
    send(order)
    assert order.status == Status.OPEN
    return account, order


def cancel_fault(sim, **spec):
    return sim.control("POST", "/faults", {"method": "DELETE", "path": CANCEL_PATH, **spec})


def request_cancel(order, actor="test"):
    services.order_cancel(order=order, actor=actor)
    order.refresh_from_db()
    assert order.status == Status.CANCEL_REQUESTED


def test_a_cancel_answered_with_a_5xx_is_looked_up_then_sent_again_until_cancelled(
    make_sim_account, sim
):
    account, order = resting_order(make_sim_account)
    request_cancel(order)
    cancel_fault(sim, action="status", status=503)

    assert services.order_cancel_send(order_id=order.pk) == "reconcile"
    order.refresh_from_db()
    assert order.status == Status.CANCEL_REQUESTED
    assert order.next_step_at is not None  # the sweep's due time, should the task die
    # The venue never saw the cancel: the order is still working there.
    assert len(venue_orders(sim, account)["open_orders"]) == 1

    # Asked first: still open on the venue, so the cancel goes again.
    assert services.order_reconcile(order_id=order.pk).outcome == "cancel"
    assert services.order_cancel_send(order_id=order.pk) == "done"

    order.refresh_from_db()
    assert order.status == Status.CANCELED
    assert order.next_step_at is None
    assert venue_orders(sim, account)["open_orders"] == []
    assert event_types(order).count("order.cancel_unknown") == 1


@pytest.mark.parametrize("mode", ["close", "hang"])
def test_a_cancel_whose_answer_was_dropped_after_the_venue_cancelled_ends_cancelled(
    make_sim_account, sim, settings, mode
):
    settings.EXCHANGE_TIMEOUT_MS = 600
    account, order = resting_order(make_sim_account)
    request_cancel(order)
    cancel_fault(sim, action="drop", mode=mode, delay_ms=2000)

    assert services.order_cancel_send(order_id=order.pk) == "reconcile"
    assert services.order_reconcile(order_id=order.pk).outcome == "applied"

    order.refresh_from_db()
    assert order.status == Status.CANCELED
    assert order.next_step_at is None
    assert venue_orders(sim, account)["open_orders"] == []


def test_a_rate_limited_cancel_is_retried_after_the_countdown_in_next_step_at(
    make_sim_account, sim
):
    from orders.models import Order

    account, order = resting_order(make_sim_account)
    request_cancel(order)
    cancel_fault(sim, action="status", status=429)

    assert services.order_cancel_send(order_id=order.pk) == "retry"
    assert 0 < services.order_next_step_delay(order_id=order.pk) <= 1.0
    assert Order.objects.get(pk=order.pk).status == Status.CANCEL_REQUESTED
    assert services.order_cancel_send(order_id=order.pk) == "done"

    assert Order.objects.get(pk=order.pk).status == Status.CANCELED
    assert venue_orders(sim, account)["open_orders"] == []


def test_asking_again_to_cancel_an_order_stuck_in_cancel_requested_sends_the_cancel_again(
    make_sim_account, sim, django_capture_on_commit_callbacks, monkeypatch
):
    account, order = resting_order(make_sim_account)
    request_cancel(order)
    cancel_fault(sim, action="status", status=503)
    services.order_cancel_send(order_id=order.pk)
    # ... and the lookup that was to follow is lost with its worker.
    queued = []
    monkeypatch.setattr(tasks.order_cancel_send, "delay", queued.append)

    with django_capture_on_commit_callbacks(execute=True):
        services.order_cancel(order=order, actor="user:1")
    assert queued == [order.pk]
    assert services.order_cancel_send(order_id=order.pk) == "done"

    order.refresh_from_db()
    assert order.status == Status.CANCELED
    assert venue_orders(sim, account)["open_orders"] == []
    assert event_types(order).count("order.cancel_requested") == 1
    assert event_types(order).count("order.cancel_repeated") == 1


def test_asking_again_while_a_cancel_is_calling_the_venue_sends_nothing_more(
    make_sim_account, django_capture_on_commit_callbacks
):
    from orders.services.cancel import _in_flight

    _, order = resting_order(make_sim_account)
    request_cancel(order)

    with exclusive(_in_flight(order.pk), seconds=30) as mine:
        assert mine
        assert services.order_cancel_send(order_id=order.pk) == "busy"
        with django_capture_on_commit_callbacks() as callbacks:
            services.order_cancel(order=order, actor="user:1")

    assert callbacks == []
    assert "order.cancel_repeated" not in event_types(order)
