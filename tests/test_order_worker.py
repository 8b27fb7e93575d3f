"""The order path with a real Celery worker: an order reaches the venue exactly once even
when the worker is killed (SIGKILL) in the middle of sending it."""

from decimal import Decimal

import pytest

from orders import services
from orders.models import Order
from orders.services import OrderRequest
from orders.states import Status

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_order_is_sent_by_the_worker_and_fills(make_sim_account, sim, start_worker, wait_for):
    start_worker(SIMULATOR_URL=sim.url)
    account = make_sim_account()

    order, _ = services.order_submit(
        account=account,
        request=OrderRequest(symbol="BTC/USDT", side="buy", type="market", amount=Decimal("0.01")),
        origin="api",
        actor="test",
    )

    wait_for(
        lambda: Order.objects.get(pk=order.pk).status == Status.FILLED,
        timeout=30,
        message="the worker to send and fill the order",
    )
    assert sim.control("GET", f"/accounts/{account.sim_id}")["orders"] == 1


def test_a_worker_killed_while_sending_leaves_exactly_one_order_after_restart(
    make_sim_account, sim, start_worker, wait_for
):
    env = {"SIMULATOR_URL": sim.url, "ORDER_SUBMITTING_TIMEOUT_SECONDS": "1"}
    first = start_worker(**env)
    account = make_sim_account()
    # The venue takes the order and holds its answer: the worker is mid-send.
    sim.control(
        "POST",
        "/faults",
        {
            "method": "POST",
            "path": "/api/v3/order",
            "action": "drop",
            "mode": "hang",
            "delay_ms": 60000,
        },
    )

    order, _ = services.order_submit(
        account=account,
        request=OrderRequest(symbol="BTC/USDT", side="buy", type="market", amount=Decimal("0.01")),
        origin="api",
        actor="test",
    )
    wait_for(
        lambda: sim.control("GET", f"/accounts/{account.sim_id}")["orders"] == 1,
        timeout=30,
        message="the venue to hold the order",
    )
    assert Order.objects.get(pk=order.pk).status == Status.SUBMITTING
    first.kill()

    start_worker(**env)  # its start-up re-check asks the venue by client order id

    wait_for(
        lambda: Order.objects.get(pk=order.pk).status == Status.FILLED,
        timeout=60,
        message="the restarted worker to reconcile the order",
    )
    assert sim.control("GET", f"/accounts/{account.sim_id}")["orders"] == 1
    events = list(Order.objects.get(pk=order.pk).events.values_list("type", flat=True))
    assert events.count("order.submitting") == 1


def test_a_kill_switch_turned_on_stays_on_for_a_worker_started_afterwards(
    make_sim_account, sim, start_worker, wait_for, monkeypatch
):
    from orders import tasks
    from risk.services import kill_switch_set

    account = make_sim_account()
    # Queued while trading was allowed, but no worker was running to send it.
    monkeypatch.setattr(tasks.order_send, "delay_on_commit", lambda *args: None)
    queued, _ = services.order_submit(
        account=account,
        request=OrderRequest(symbol="BTC/USDT", side="buy", type="market", amount=Decimal("0.01")),
        origin="api",
        actor="test",
    )
    kill_switch_set(on=True, actor="user:1", reason="before the restart", account=account)
    monkeypatch.undo()

    start_worker(SIMULATOR_URL=sim.url)  # a fresh process: the switch is a row, not memory
    tasks.order_send.delay(queued.pk)

    wait_for(
        lambda: Order.objects.get(pk=queued.pk).status == Status.CANCELED,
        timeout=30,
        message="the worker to refuse the queued order",
    )
    assert "before the restart" in Order.objects.get(pk=queued.pk).status_reason
    assert sim.control("GET", f"/accounts/{account.sim_id}")["orders"] == 0


def test_a_rate_limited_order_whose_worker_was_killed_is_sent_by_the_sweep(
    make_sim_account, sim, start_worker, wait_for
):
    from datetime import timedelta

    from django.utils import timezone

    from orders import tasks

    env = {"SIMULATOR_URL": sim.url, "ORDER_MAX_SEND_ATTEMPTS": "100"}
    first = start_worker(**env)
    account = make_sim_account()
    fault = sim.control(
        "POST",
        "/faults",
        {
            "method": "POST",
            "path": "/api/v3/order",
            "action": "status",
            "status": 429,
            "count": None,
        },
    )
    order, _ = services.order_submit(
        account=account,
        request=OrderRequest(symbol="BTC/USDT", side="buy", type="market", amount=Decimal("0.01")),
        origin="api",
        actor="test",
    )
    # Rate limited again and again: between attempts the worker holds the retry countdown.
    wait_for(
        lambda: Order.objects.filter(
            pk=order.pk, status=Status.PENDING, send_attempts__gte=2
        ).exists(),
        timeout=30,
        message="the worker to retry the rate-limited order",
    )
    first.kill()  # the countdown dies with it; the broker would return it in an hour
    sim.control("DELETE", f"/faults/{fault['fault_id']}")
    assert Order.objects.get(pk=order.pk).status == Status.PENDING

    start_worker(**env)
    # Its retry was due (the backoff is at most 30 s): what beat's sweep then does.
    Order.objects.filter(pk=order.pk).update(next_step_at=timezone.now() - timedelta(seconds=1))
    tasks.orders_reconcile_sweep.delay()

    wait_for(
        lambda: Order.objects.get(pk=order.pk).status == Status.FILLED,
        timeout=30,
        message="the sweep to send the order whose retry was lost",
    )
    assert sim.control("GET", f"/accounts/{account.sim_id}")["orders"] == 1
