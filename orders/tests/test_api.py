import threading
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from orders.models import Order, OrderEvent
from orders.states import Status
from orders.tests.factories import FillFactory, OrderEventFactory, OrderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def trader(make_sim_account):
    account = make_sim_account()
    client = APIClient()
    client.force_authenticate(account.owner)
    client.account = account
    return client


def order_payload(on, **overrides):
    payload = {
        "account": on.pk,
        "symbol": "BTC/USDT",
        "side": "buy",
        "type": "limit",
        "amount": "0.01",
        "price": "59000",
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not None}


def test_posting_an_order_stores_it_pending_and_queues_the_send_on_commit(
    trader, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = trader.post("/api/orders/", order_payload(trader.account), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending"
    assert body["amount"] == "0.010000000000000000"
    assert body["price"] == "59000.000000000000000000"
    assert body["client_order_id"].startswith("tp")
    assert len(callbacks) == 2


def test_the_same_idempotency_key_returns_the_same_order(trader):
    headers = {"HTTP_IDEMPOTENCY_KEY": "key-1"}

    first = trader.post("/api/orders/", order_payload(trader.account), format="json", **headers)
    again = trader.post("/api/orders/", order_payload(trader.account), format="json", **headers)

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Order.objects.count() == 1


def test_an_idempotency_key_reused_for_another_order_is_unprocessable(trader):
    headers = {"HTTP_IDEMPOTENCY_KEY": "key-2"}
    trader.post("/api/orders/", order_payload(trader.account), format="json", **headers)

    response = trader.post(
        "/api/orders/", order_payload(trader.account, side="sell"), format="json", **headers
    )

    assert response.status_code == 422
    assert "Idempotency-Key 'key-2'" in response.json()["detail"]
    assert Order.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "differs"),
    [
        ({"amount": "0.02"}, ["amount"]),
        ({"price": "58000"}, ["price"]),
        ({"time_in_force": "IOC"}, ["time_in_force"]),
        ({"stop_loss_price": "57000"}, ["stop_loss_price"]),
        ({"reduce_only": True, "post_only": True}, ["reduce_only", "post_only"]),
    ],
)
def test_an_idempotency_key_reused_with_a_different_body_is_422_naming_the_key(
    trader, overrides, differs
):
    headers = {"HTTP_IDEMPOTENCY_KEY": "key-3"}
    first = trader.post("/api/orders/", order_payload(trader.account), format="json", **headers)

    response = trader.post(
        "/api/orders/", order_payload(trader.account, **overrides), format="json", **headers
    )

    assert first.status_code == 201
    assert response.status_code == 422, response.content
    body = response.json()
    assert "Idempotency-Key 'key-3'" in body["detail"]
    assert "different body" in body["detail"]
    assert (body["idempotency_key"], body["differs"]) == ("key-3", differs)
    assert Order.objects.count() == 1


def test_the_same_body_written_differently_is_the_same_order(trader):
    headers = {"HTTP_IDEMPOTENCY_KEY": "key-4"}
    first = trader.post("/api/orders/", order_payload(trader.account), format="json", **headers)

    again = trader.post(
        "/api/orders/",
        # The same values as rounded and defaulted: 59000 to the tick, GTC by default.
        order_payload(trader.account, amount="0.0100", price="59000.000", time_in_force="GTC"),
        format="json",
        **headers,
    )

    assert again.status_code == 200, again.content
    assert again.json()["id"] == first.json()["id"]


def test_unknown_fields_are_400_naming_them_and_write_nothing(trader):
    response = trader.post(
        "/api/orders/",
        order_payload(trader.account, leverage="20", stop_los_price="58000"),
        format="json",
    )

    assert response.status_code == 400
    body = response.json()
    assert sorted(body) == ["leverage", "stop_los_price"]
    assert "Unknown field 'leverage'" in body["leverage"][0]
    assert Order.objects.count() == 0


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/api/orders/cancel-all/", {"symbol": "BTC/USDT", "everything": True}),
        ("/api/positions/close-all/", {"force": True}),
        ("/api/risk/kill-switch/", {"on": True, "panik": True}),
    ],
)
def test_every_write_endpoint_refuses_unknown_fields(trader, path, payload):
    response = trader.post(path, {"account": trader.account.pk, **payload}, format="json")

    assert response.status_code == 400, response.content
    unknown = set(payload) - {"symbol", "on"}
    assert set(response.json()) == unknown


def prime_last_price(account, price):
    from django.core.cache import cache

    from accounts import gateway

    cache.set(gateway.tickers_cache_key(account), {"BTC/USDT": price}, 60)


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        # A buy: stop_loss_price < 60000 (the last price) < take_profit_price.
        ({"side": "buy", "stop_loss_price": "61000"}, "stop_loss_price", "must be below 60000"),
        ({"side": "buy", "take_profit_price": "59000"}, "take_profit_price", "must be above"),
        ({"side": "sell", "stop_loss_price": "59000"}, "stop_loss_price", "must be above"),
        ({"side": "sell", "take_profit_price": "61000"}, "take_profit_price", "must be below"),
    ],
)
def test_a_market_entrys_stop_or_target_on_the_wrong_side_of_the_last_price_is_400(
    trader, overrides, field, text
):
    prime_last_price(trader.account, "60000")

    response = trader.post(
        "/api/orders/",
        order_payload(trader.account, type="market", price=None, **overrides),
        format="json",
    )

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["field"] == field
    assert text in body["detail"]
    assert "the last price of BTC/USDT" in body["detail"]
    assert Order.objects.count() == 0


def test_a_market_bracket_with_no_known_price_is_400_saying_so(trader, monkeypatch):
    from risk.services import RiskGate

    monkeypatch.setattr(RiskGate, "prepare", lambda self, **kw: {"prices": {}, "now": None})
    response = trader.post(
        "/api/orders/",
        order_payload(trader.account, type="market", price=None, stop_loss_price="59000"),
        format="json",
    )

    assert response.status_code == 400
    assert "No last price is known for BTC/USDT" in response.json()["detail"]
    assert Order.objects.count() == 0


def test_a_market_bracket_on_the_right_sides_is_accepted(trader):
    prime_last_price(trader.account, "60000")

    response = trader.post(
        "/api/orders/",
        order_payload(
            trader.account,
            type="market",
            price=None,
            stop_loss_price="59000",
            take_profit_price="61000",
        ),
        format="json",
    )

    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("side", "type", "stop_price"),
    [
        ("sell", "stop_market", "60000"),  # a sell stop fires at or below its trigger
        ("buy", "stop_market", "59000"),
        ("sell", "take_profit_market", "59000"),  # a sell take-profit fires at or above
        ("buy", "take_profit_market", "61000"),
    ],
)
def test_a_stop_order_that_would_trigger_at_once_is_400(trader, side, type, stop_price):
    prime_last_price(trader.account, "60000")

    response = trader.post(
        "/api/orders/",
        order_payload(trader.account, side=side, type=type, price=None, stop_price=stop_price),
        format="json",
    )

    assert response.status_code == 400, response.content
    assert response.json()["field"] == "stop_price"
    assert "would trigger at once" in response.json()["detail"]
    assert Order.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_posts_with_one_key_create_one_order(make_sim_account, monkeypatch):
    from orders import tasks

    monkeypatch.setattr(tasks.order_send, "delay_on_commit", lambda *args: None)
    account = make_sim_account()
    results = []
    barrier = threading.Barrier(2)

    def post():
        from django.db import connection

        client = APIClient()
        client.force_authenticate(account.owner)
        barrier.wait(timeout=10)
        try:
            results.append(
                client.post(
                    "/api/orders/",
                    order_payload(account),
                    format="json",
                    HTTP_IDEMPOTENCY_KEY="same-key",
                )
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(r.status_code for r in results) == [200, 201]
    assert len({r.json()["id"] for r in results}) == 1
    assert Order.objects.filter(idempotency_key="same-key").count() == 1


@pytest.mark.parametrize(
    ("overrides", "status", "text"),
    [
        ({"symbol": "NOPE/USDT"}, 400, "Unknown symbol"),
        ({"amount": "0.000001"}, 400, "below the minimum"),
        ({"amount": "0.00002", "price": "100"}, 400, "below the minimum"),
        ({"type": "market", "price": "59000"}, 400, "price is not allowed"),
        ({"type": "limit", "price": None}, 400, "needs a price"),
        ({"type": "stop_market", "price": None}, 400, "stop_price"),
        ({"amount": "lots"}, 400, "amount"),
        ({"amount": "-1"}, 400, "amount"),
        ({"side": "up"}, 400, "side"),
        ({"type": "iceberg"}, 400, "type"),
        ({"post_only": True, "type": "market", "price": None}, 400, "post_only"),
        ({"time_in_force": "GTD"}, 400, "time_in_force"),
        ({"stop_loss_price": "59500"}, 400, "stop_loss_price"),
        # Equal once rounded to the tick (0.01): the stop would trigger at the entry.
        ({"stop_loss_price": "59000.004"}, 400, "must be below 59000"),
        ({"account": 999999}, 404, "No account"),
        ({"account": "x"}, 400, "account"),
    ],
)
def test_bad_orders_get_a_clear_4xx_and_write_nothing(trader, overrides, status, text):
    response = trader.post(
        "/api/orders/", order_payload(trader.account, **overrides), format="json"
    )

    assert response.status_code == status, response.content
    assert text in response.content.decode()
    assert Order.objects.count() == 0
    assert OrderEvent.objects.count() == 0


def test_an_account_without_can_trade_is_refused(trader):
    trader.account.can_trade = False
    trader.account.save()

    response = trader.post("/api/orders/", order_payload(trader.account), format="json")

    assert response.status_code == 403
    assert "can_trade" in response.json()["detail"]
    assert Order.objects.count() == 0


def test_another_users_account_and_orders_are_invisible(trader, make_sim_account):
    theirs = make_sim_account()
    their_order = OrderFactory(account=theirs)

    post = trader.post("/api/orders/", order_payload(theirs), format="json")

    assert post.status_code == 404
    assert trader.get(f"/api/orders/{their_order.pk}/").status_code == 404
    assert trader.post(f"/api/orders/{their_order.pk}/cancel/").status_code == 404
    assert trader.get("/api/orders/").json()["results"] == []
    assert (
        trader.post("/api/orders/cancel-all/", {"account": theirs.pk}, format="json").status_code
        == 404
    )


def test_the_list_filters_and_pages_with_a_cursor(trader, django_assert_max_num_queries):
    account = trader.account
    for _ in range(3):
        OrderFactory(account=account, symbol="BTC/USDT", status="open")
    OrderFactory(account=account, symbol="ETH/USDT", status="filled")

    with django_assert_max_num_queries(3):
        page = trader.get("/api/orders/", {"symbol": "BTC/USDT", "limit": 2}).json()
    rest = trader.get(page["next"]).json()
    filled = trader.get("/api/orders/", {"status": "filled,canceled"}).json()

    assert len(page["results"]) == 2
    assert len(rest["results"]) == 1
    assert [o["symbol"] for o in filled["results"]] == ["ETH/USDT"]


@pytest.mark.parametrize(
    "params",
    [
        {"status": "sleeping"},
        {"since": "yesterday"},
        {"since": "2026-01-01T00:00:00"},
        {"account": "abc"},
    ],
)
def test_bad_list_filters_are_400(trader, params):
    assert trader.get("/api/orders/", params).status_code == 400


def test_the_detail_carries_the_audit_timeline_and_fills(trader, django_assert_max_num_queries):
    order = OrderFactory(account=trader.account)
    OrderEventFactory(order=order, type="order.created")
    OrderEventFactory(order=order, type="order.open")
    FillFactory(order=order, price="60000.5", amount="0.004")

    with django_assert_max_num_queries(4):
        body = trader.get(f"/api/orders/{order.pk}/").json()

    assert [e["type"] for e in body["events"]] == ["order.created", "order.open"]
    assert body["fills"][0]["price"] == "60000.500000000000000000"


def test_cancel_and_cancel_all(trader):
    pending = OrderFactory(account=trader.account, status="pending")
    resting = OrderFactory(account=trader.account, status="open")
    done = OrderFactory(account=trader.account, status="filled")

    one = trader.post(f"/api/orders/{pending.pk}/cancel/")
    again = trader.post(f"/api/orders/{done.pk}/cancel/")
    everything = trader.post(
        "/api/orders/cancel-all/", {"account": trader.account.pk}, format="json"
    )

    assert one.json()["status"] == "canceled"
    assert again.status_code == 409
    assert everything.json() == {"canceled": 1}
    resting.refresh_from_db()
    assert resting.status == Status.CANCEL_REQUESTED


def test_admin_shows_orders_read_only_with_their_timeline(
    admin_client, make_sim_account, django_assert_max_num_queries
):
    account = make_sim_account()
    orders = [OrderFactory(account=account) for _ in range(5)]
    OrderEventFactory(order=orders[0], type="order.created", reason="audited")

    with django_assert_max_num_queries(10):
        listing = admin_client.get("/admin/orders/order/")
    detail = admin_client.get(f"/admin/orders/order/{orders[0].pk}/change/")
    event = orders[0].events.get()

    assert listing.status_code == 200
    assert "audited" in detail.content.decode()
    assert admin_client.get(f"/admin/orders/orderevent/{event.pk}/delete/").status_code == 403
    assert admin_client.get("/admin/orders/fill/add/").status_code == 403
    assert admin_client.get("/admin/orders/order/add/").status_code == 403


def test_events_and_fills_cannot_be_changed_in_code_either():
    event = OrderEventFactory()
    fill = FillFactory()

    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    with pytest.raises(ValueError, match="cannot be changed"):
        fill.save()


def test_changes_are_published_to_the_account_group_only_after_commit(
    make_sim_account, django_capture_on_commit_callbacks, monkeypatch
):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from orders import tasks
    from orders.tests.test_lifecycle import send, submit
    from realtime.groups import account_group

    monkeypatch.setattr(tasks.order_send, "delay_on_commit", lambda *args: None)
    account = make_sim_account()
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(account_group(account.pk), channel)

    with django_capture_on_commit_callbacks(execute=True):
        order = submit(account, amount=Decimal("0.01"))
    first = async_to_sync(layer.receive)(channel)
    with django_capture_on_commit_callbacks(execute=False) as pending:
        send(order)
    published_before_commit = layer.channels[channel].qsize() if channel in layer.channels else 0
    for callback in pending:
        callback()
    events = [async_to_sync(layer.receive)(channel) for _ in range(2)]

    assert first["event"] == "order.updated"
    assert first["payload"]["status"] == "pending"
    assert published_before_commit == 0
    assert sorted(e["event"] for e in events) == ["fill.created", "order.updated"]
    assert {e["payload"].get("status") for e in events} >= {"filled"}


def test_amend_through_the_api(trader, django_capture_on_commit_callbacks):
    from orders.tests.test_lifecycle import send

    response = trader.post("/api/orders/", order_payload(trader.account), format="json")
    order = Order.objects.get(pk=response.json()["id"])
    send(order)

    with django_capture_on_commit_callbacks() as callbacks:
        amended = trader.post(f"/api/orders/{order.pk}/amend/", {"price": "59100"}, format="json")
    bad = trader.post(f"/api/orders/{order.pk}/amend/", {"price": "cheap"}, format="json")

    assert amended.status_code == 202
    assert amended.json()["replaces"] == order.pk
    assert amended.json()["price"] == "59100.000000000000000000"
    assert len(callbacks) == 2
    assert bad.status_code == 400


def test_a_paper_account_cannot_place_orders_yet(trader):
    trader.account.mode = "paper"
    trader.account.save()

    response = trader.post("/api/orders/", order_payload(trader.account), format="json")

    assert response.status_code == 403
    assert "paper" in response.json()["detail"]
    assert Order.objects.count() == 0


def test_an_account_id_beyond_64_bits_is_a_404_and_nothing_is_stored(trader):
    response = trader.post(
        "/api/orders/", order_payload(trader.account, account=10**20), format="json"
    )

    assert response.status_code == 404
    assert Order.objects.count() == 0
