"""Whatever fails between us and the venue, an order is placed once - never zero times,
never twice. Faults are injected in the simulator; the client is the real ccxt."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders import services
from orders.models import Fill
from orders.states import Status
from orders.tests.test_lifecycle import event_types, send, submit, venue_orders

pytestmark = pytest.mark.django_db

ORDER_PATH = "/api/v3/order"


@pytest.fixture
def fast_timeouts(settings):
    settings.EXCHANGE_TIMEOUT_MS = 600
    return settings


def fault(sim, **spec):
    spec.setdefault("method", "POST")
    spec.setdefault("path", ORDER_PATH)
    return sim.control("POST", "/faults", spec)


def reconcile(order):
    result = services.order_reconcile(order_id=order.pk)
    order.refresh_from_db()
    return result


@pytest.mark.parametrize("mode", ["close", "hang"])
def test_an_answer_dropped_after_the_venue_accepted_leaves_exactly_one_order(
    make_sim_account, sim, fast_timeouts, mode
):
    account = make_sim_account()
    order = submit(account, amount=Decimal("0.01"))
    fault(sim, action="drop", mode=mode, delay_ms=2000)

    result = send(order)

    assert result.outcome == "reconcile"
    assert order.status == Status.UNKNOWN
    assert reconcile(order).outcome == "applied"
    assert order.status == Status.FILLED
    assert order.filled == Decimal("0.01")
    assert venue_orders(sim, account)["orders"] == 1
    assert "order.unknown" in event_types(order)


def test_a_timeout_before_the_venue_saw_the_order_resends_only_after_the_receive_window(
    make_sim_account, sim, fast_timeouts
):
    account = make_sim_account()
    order = submit(account, amount=Decimal("0.01"))
    fault(sim, action="timeout", delay_ms=2000)

    assert send(order).outcome == "reconcile"
    assert order.status == Status.UNKNOWN
    # The venue does not know it yet, but the request could still be in flight:
    # nothing is sent again inside the receive window.
    waiting = reconcile(order)
    assert waiting.outcome == "wait"
    assert waiting.delay > 1
    assert order.status == Status.UNKNOWN

    fast_timeouts.ORDER_RESEND_AFTER_SECONDS = 0
    assert reconcile(order).outcome == "resend"
    assert order.status == Status.PENDING
    send(order)

    assert order.status == Status.FILLED
    assert venue_orders(sim, account)["orders"] == 1
    assert event_types(order).count("order.resend") == 1


def test_a_429_is_retried_after_a_backoff_and_then_succeeds(make_sim_account, sim):
    account = make_sim_account()
    order = submit(account, amount=Decimal("0.01"))
    fault(sim, action="status", status=429)

    result = send(order)
    assert result.outcome == "retry"
    assert result.delay > 0
    assert order.status == Status.PENDING
    send(order)

    assert order.status == Status.FILLED
    assert order.send_attempts == 2
    assert venue_orders(sim, account)["orders"] == 1
    assert "order.send_retry" in event_types(order)


def test_rate_limiting_that_never_ends_rejects_the_order_as_not_sent(
    make_sim_account, sim, settings
):
    settings.ORDER_MAX_SEND_ATTEMPTS = 2
    account = make_sim_account()
    order = submit(account, amount=Decimal("0.01"))
    fault(sim, action="status", status=418, count=None)

    send(order)
    send(order)

    assert order.status == Status.REJECTED
    assert "not sent after 2 attempts" in order.status_reason
    assert venue_orders(sim, account)["orders"] == 0


def test_a_5xx_means_unknown_and_reconciliation_decides(make_sim_account, sim, settings):
    account = make_sim_account()
    order = submit(account, amount=Decimal("0.01"))
    fault(sim, action="status", status=503)

    assert send(order).outcome == "reconcile"
    assert order.status == Status.UNKNOWN
    settings.ORDER_RESEND_AFTER_SECONDS = 0
    assert reconcile(order).outcome == "resend"
    send(order)

    assert order.status == Status.FILLED
    assert venue_orders(sim, account)["orders"] == 1


def test_a_502_from_a_proxy_is_unknown_too(make_sim_account, sim):
    account = make_sim_account()
    order = submit(account, amount=Decimal("0.01"))
    fault(sim, action="status", status=502, raw_body="<html>Bad Gateway</html>")

    send(order)

    assert order.status == Status.UNKNOWN
    assert "ExchangeNotAvailable" in order.status_reason


def test_a_worker_that_died_mid_send_is_reconciled_not_resent(make_sim_account, sim, settings):
    account = make_sim_account()
    order = submit(account, amount=Decimal("0.01"))
    fault(sim, action="drop", mode="close")
    settings.EXCHANGE_TIMEOUT_MS = 600
    send(order)
    # Simulate the crash: the order is left as the dead worker left it, `submitting`.
    type(order).objects.filter(pk=order.pk).update(status=Status.SUBMITTING)
    settings.ORDER_SUBMITTING_TIMEOUT_SECONDS = 0
    settings.ORDER_RECONCILE_AFTER_SECONDS = 0

    # The redelivered task finds nothing to claim and hands the order to reconciliation.
    result = services.order_send(order_id=order.pk)
    assert result.outcome == "reconcile"
    assert services.orders_due_steps() == [services.DueStep(order.pk, "reconcile")]
    reconcile(order)

    assert order.status == Status.FILLED
    assert venue_orders(sim, account)["orders"] == 1


def filled_on_the_venue(make_sim_account, sim):
    """(account, order, the venue's final view of it, its 3 trades): a limit buy of 1.5
    sent, then filled by a price move, as ccxt reads them back."""
    from accounts import gateway

    account = make_sim_account()
    order = submit(account, type="limit", amount=Decimal("1.5"), price=Decimal("60000.06"))
    send(order)
    sim.control("POST", "/price", {"symbol": "BTC/USDT", "price": "59990", "venue": "spot"})
    client = gateway.get_client(account)
    final = client.fetch_order(None, "BTC/USDT", {"clientOrderId": order.client_order_id})
    return account, order, final, client.fetch_my_trades("BTC/USDT")


def test_duplicate_and_out_of_order_updates_end_in_the_right_state_with_one_fill_per_trade(
    make_sim_account, sim
):
    from orders import venue

    account, order, final, trades = filled_on_the_venue(make_sim_account, sim)
    partial = {**final, "status": "open", "filled": 0.747, "remaining": 0.753, "trades": []}
    opened = {**final, "status": "open", "filled": 0.0, "remaining": 1.5, "trades": []}

    for payload in (final, partial, opened, final, partial):
        services.order_apply_update(
            account=account, update=venue.parse_order(payload), actor="stream"
        )
    for _ in range(2):
        services.fills_record(
            account=account, trades=[venue.parse_trade(t) for t in trades], actor="stream"
        )

    order.refresh_from_db()
    assert order.status == Status.FILLED
    assert order.filled == Decimal("1.5")
    assert Fill.objects.filter(account=account).count() == len(trades) == 3
    types = event_types(order)
    assert types.count("order.filled") == 1
    # After the final state: partial, opened and partial again are stale; final again is a
    # duplicate and writes nothing.
    assert types.count("order.update_ignored") == 3
    # Trade 1 came with the order's answer; each replay repeats it, the second all 3:
    # counted on the fills, not written as events.
    assert "order.fill_duplicate" not in types
    deliveries = dict(
        Fill.objects.filter(account=account).values_list("exchange_trade_id", "deliveries")
    )
    first = str(trades[0]["id"])
    assert deliveries[first] == 3
    assert sorted(deliveries.values()) == [2, 2, 3]


def test_a_batch_of_updates_is_one_transaction_and_tells_positions_once(
    make_sim_account, sim, django_capture_on_commit_callbacks, monkeypatch
):
    from accounts import gateway
    from orders import venue
    from orders.services import updates
    from orders.services.bulk import copy_insert as real_copy_insert
    from orders.signals import fills_committed

    account = make_sim_account()
    orders = [
        submit(account, type="limit", amount=Decimal("0.1"), price=Decimal("59000"))
        for _ in range(3)
    ]
    for order in orders:
        send(order)
    sim.control("POST", "/price", {"symbol": "BTC/USDT", "price": "58900", "venue": "spot"})
    client = gateway.get_client(account)
    payloads = [
        client.fetch_order(None, "BTC/USDT", {"clientOrderId": o.client_order_id}) for o in orders
    ]
    trades = {t["order"]: t for t in client.fetch_my_trades("BTC/USDT")}
    for payload in payloads:
        payload["trades"] = [trades[payload["id"]]]
    announced = []

    def listen(sender, account_id, **kwargs):
        announced.append(account_id)

    fills_committed.connect(listen, dispatch_uid="test-batch")
    inserted = []

    def copy_insert(objs):
        inserted.append((type(objs[0]), len(objs)))
        real_copy_insert(objs)

    monkeypatch.setattr(updates, "copy_insert", copy_insert)
    try:
        with (
            django_capture_on_commit_callbacks(execute=True),
            CaptureQueriesContext(connection) as queries,
        ):
            services.order_apply_updates(
                account=account,
                updates=[venue.parse_order(p) for p in payloads],
                actor="stream",
            )
    finally:
        fills_committed.disconnect(dispatch_uid="test-batch")

    def statements(start):
        return [q["sql"] for q in queries.captured_queries if start in q["sql"]]

    # The batch writes its orders in one statement and its fills in one (a COPY on
    # PostgreSQL, which runs no INSERT).
    assert len(statements('UPDATE "orders_order"')) == 1
    assert statements('UPDATE "orders_order"')[0].startswith("3 times")
    assert len(statements('INSERT INTO "orders_fill"')) == (
        0 if connection.vendor == "postgresql" else 1
    )
    assert [(model, count) for model, count in inserted if model is Fill] == [(Fill, 3)]

    for order in orders:
        order.refresh_from_db()
        assert order.status == Status.FILLED
        # Each change has its event; the fill's points at the fill, stored with it.
        assert event_types(order)[-2:] == ["order.filled", "order.fill"]
        fill = Fill.objects.get(order=order)
        assert order.events.get(type="order.fill").fill_id == fill.pk
    assert Fill.objects.filter(account=account).count() == 3
    assert announced == [account.pk]


@pytest.mark.django_db(transaction=True)
def test_an_accounts_fills_are_recorded_one_transaction_at_a_time(make_sim_account, sim):
    """Fill ids are assigned at insert and positions apply fills after a cursor: two
    transactions recording fills at once could commit id 101 before 100, and positions
    would skip 100. Every way of recording fills holds the account's fill lock until its
    transaction ends, so they commit one after the other, in id order."""
    import psycopg
    from django.db import transaction

    from orders import venue
    from orders.services.updates import _FILLS_LOCK

    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one writing transaction at a time")
    account, _, final, trades = filled_on_the_venue(make_sim_account, sim)
    with_trades = {**final, "trades": trades}
    params = connection.settings_dict
    other = psycopg.connect(
        dbname=params["NAME"],
        user=params["USER"],
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        autocommit=True,
    )

    def lock_held_elsewhere() -> bool:
        (free,) = other.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s)", [_FILLS_LOCK, account.pk]
        ).fetchone()
        return not free

    ways = {
        "fills_record": lambda: services.fills_record(
            account=account, trades=[venue.parse_trade(t) for t in trades], actor="poll"
        ),
        "order_apply_updates": lambda: services.order_apply_updates(
            account=account, updates=[venue.parse_order(with_trades)], actor="stream"
        ),
        "order_apply_update": lambda: services.order_apply_update(
            account=account, update=venue.parse_order(with_trades), actor="stream"
        ),
    }
    try:
        for name, record in ways.items():
            with transaction.atomic():
                record()
                assert lock_held_elsewhere(), name
            assert not lock_held_elsewhere(), name
    finally:
        other.close()
    assert Fill.objects.filter(account=account).count() == len(trades) == 3
