"""Orders the exchange does not know, and polling that keeps failing: resolved and told,
never left as they are. Real ccxt against the simulator."""

from decimal import Decimal

import pytest

from accounts.models import Alert
from orders import services
from orders.models import Order
from orders.states import Status
from orders.tests.factories import OrderFactory
from orders.tests.test_lifecycle import event_types, send, submit
from positions.models import Drift

pytestmark = pytest.mark.django_db


def believed_open(account, **fields):
    """An order we hold open that the venue never had (its state lost in a restart)."""
    fields.setdefault("status", Status.OPEN)
    return OrderFactory(
        account=account,
        exchange_order_id="987654",
        amount=Decimal("0.1"),
        price=Decimal("59000"),
        **fields,
    )


def test_an_open_order_the_exchange_does_not_know_is_closed_after_its_lookup_window(
    make_sim_account, settings
):
    account = make_sim_account()
    order = believed_open(account)

    first = services.order_reconcile(order_id=order.pk)
    again = services.order_reconcile(order_id=order.pk)
    assert (first.outcome, again.outcome) == ("wait", "wait")
    order.refresh_from_db()
    assert order.status == Status.OPEN
    assert order.next_step_at is not None  # looked up again at the window's end
    assert event_types(order).count("order.not_found") == 1  # once, not at every lookup
    assert not Drift.objects.exists()

    settings.ORDER_LOST_AFTER_SECONDS = 0  # the window has passed
    assert services.order_reconcile(order_id=order.pk).outcome == "closed"

    order.refresh_from_db()
    assert order.status == Status.EXPIRED
    assert "the exchange no longer knows this order" in order.status_reason
    assert order.closed_at is not None
    assert order.next_step_at is None
    assert event_types(order)[-1] == "order.lost"
    drift = Drift.objects.get(account=account)
    assert (drift.kind, drift.subject, drift.field, drift.ours, drift.theirs) == (
        "order",
        order.client_order_id,
        "status",
        "open",
        "not found",
    )
    alert = Alert.objects.get(account=account, kind="order.lost")
    assert alert.subject == order.client_order_id
    assert alert.severity == "warning"
    # Closed: nothing more happens to it, however often it is looked up.
    assert services.order_reconcile(order_id=order.pk).outcome == "skipped"
    assert Drift.objects.count() == 1


def test_polling_resolves_orders_the_exchange_lost_instead_of_logging_them_forever(
    make_sim_account, sim, settings
):
    account = make_sim_account()
    working = submit(account, type="limit", amount=Decimal("0.1"), price=Decimal("59000"))
    send(working)
    lost = believed_open(account, role=Order.Role.STOP_LOSS, reduce_only=True)

    services.orders_poll_account(account=account)
    services.orders_poll_account(account=account)
    assert event_types(lost).count("order.not_found") == 1
    settings.ORDER_LOST_AFTER_SECONDS = 0
    services.orders_poll_account(account=account)

    lost.refresh_from_db()
    working.refresh_from_db()
    assert lost.status == Status.EXPIRED
    assert working.status == Status.OPEN  # what the venue does know is left alone
    # A lost stop-loss may leave a position unprotected.
    assert Alert.objects.get(kind="order.lost", subject=lost.client_order_id).severity == (
        "critical"
    )


def test_a_cancel_requested_order_the_exchange_does_not_know_is_closed_too(
    make_sim_account, settings
):
    settings.ORDER_LOST_AFTER_SECONDS = 0
    account = make_sim_account()
    order = believed_open(account, status=Status.CANCEL_REQUESTED)

    assert services.order_cancel_send(order_id=order.pk) == "reconcile"
    assert services.order_reconcile(order_id=order.pk).outcome == "closed"

    order.refresh_from_db()
    assert order.status == Status.EXPIRED
    assert Drift.objects.get(subject=order.client_order_id).ours == "cancel_requested"


def test_polling_that_keeps_failing_raises_one_alert_naming_the_account(
    make_sim_account, sim, settings
):
    settings.HEALTH_SYNC_MAX_ERRORS = 3
    account = make_sim_account()
    sim.control(
        "POST",
        "/faults",
        {
            "method": "GET",
            "path": "/api/v3/openOrders",
            "action": "status",
            "status": 503,
            "count": None,
        },
    )

    services.orders_poll(account_id=account.pk)
    services.orders_poll(account_id=account.pk)
    assert not Alert.objects.exists()
    services.orders_poll(account_id=account.pk)
    services.orders_poll(account_id=account.pk)

    alert = Alert.objects.get()
    assert (alert.account_id, alert.kind, alert.subject) == (account.pk, "sync.failing", "trades")
    assert alert.occurrences == 2
    assert "4 times in a row" in alert.message
