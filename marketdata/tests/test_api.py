"""The market-data API: subscriptions, candles, tickers and books, with clear refusals."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from accounts import gateway
from accounts.tests.factories import UserFactory
from marketdata import live
from marketdata.models import Candle, Subscription
from marketdata.services import candles_store
from marketdata.timeframes import to_ms

pytestmark = pytest.mark.django_db

VENUE = "simulator:spot"


@pytest.fixture
def account(make_sim_account):
    account = make_sim_account()
    gateway.ensure_markets(gateway.get_client(account), account)  # as the workers cache them
    return account


@pytest.fixture
def api(account):
    client = APIClient()
    client.force_authenticate(account.owner)
    return client


def subscribe(api, account, **fields):
    return api.post(
        "/api/marketdata/subscriptions/",
        {"account": account.pk, "symbol": "BTC/USDT", **fields},
        format="json",
    )


def test_subscribing_twice_to_a_stream_is_one_subscription(api, account):
    first = subscribe(api, account, kind="ohlcv", timeframe="1m")
    assert first.status_code == 201, first.content
    again = subscribe(api, account, kind="ohlcv", timeframe="1m", interval_ms=500)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["interval_ms"] == 500
    assert first.json()["venue"] == VENUE
    assert Subscription.objects.count() == 1
    assert subscribe(api, account, kind="orderbook", depth=10).status_code == 201
    listed = api.get("/api/marketdata/subscriptions/").json()
    assert [s["kind"] for s in listed["results"]] == ["ohlcv", "orderbook"]


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"kind": "ticker", "symbol": "NOPE/USDT"}, "detail", "Unknown symbol"),
        ({"kind": "ohlcv", "timeframe": "7x"}, "detail", "Unsupported timeframe"),
        ({"kind": "ohlcv", "timeframe": "1M"}, "detail", "Unsupported timeframe"),
        ({"kind": "ticker", "interval_ms": 50}, "detail", "at least 100 ms"),
        ({"kind": "orderbook"}, "detail", "depth from 1"),
        ({"kind": "ticker", "depth": 5}, "detail", "Only book subscriptions"),
        ({"kind": "ticker", "timeframe": "1m"}, "detail", "Only candle subscriptions"),
        ({"kind": "trades"}, "kind", "not a valid choice"),
        ({"kind": "ticker", "speed": 1}, "speed", "Unknown field"),
    ],
)
def test_bad_subscriptions_are_400_saying_why_and_write_nothing(api, account, fields, field, says):
    response = api.post(
        "/api/marketdata/subscriptions/",
        {"account": account.pk, "symbol": "BTC/USDT", **fields},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert says in str(response.json()[field])
    assert not Subscription.objects.exists()


def test_another_users_account_reads_as_no_such_account(api, make_sim_account):
    other = make_sim_account(owner=UserFactory())
    response = subscribe(api, other, kind="ticker")
    assert response.status_code == 400 and response.json()["account"] == ["No such account."]
    candles = api.get("/api/candles/", {"account": other.pk, "symbol": "BTC/USDT"})
    assert candles.status_code == 400 and candles.json()["account"] == ["No such account."]
    assert not Subscription.objects.exists()


def test_a_venue_whose_markets_are_not_loaded_yet_is_503_and_nothing_written(
    make_sim_account, settings
):
    from django.core.cache import cache

    account = make_sim_account()
    cache.delete_many(
        [gateway.markets_cache_key(account), gateway.precision_mode_cache_key(account)]
    )
    gateway.forget_all_clients()
    client = APIClient()
    client.force_authenticate(account.owner)
    response = subscribe(client, account, kind="ticker")
    assert response.status_code == 503 and "not loaded yet" in response.json()["detail"]
    assert not Subscription.objects.exists()


def test_unsubscribe_a_symbol_and_stop_and_start_everything(api, account):
    subscribe(api, account, kind="ticker")
    subscribe(api, account, kind="ohlcv", timeframe="5m")
    eth = api.post(
        "/api/marketdata/subscriptions/",
        {"account": account.pk, "symbol": "ETH/USDT", "kind": "ticker"},
        format="json",
    ).json()
    assert api.post("/api/marketdata/subscriptions/stop/").json() == {"stopped": 3}
    assert not Subscription.objects.filter(is_active=True).exists()
    assert api.post("/api/marketdata/subscriptions/start/").json() == {"started": 3}
    gone = api.post(
        "/api/marketdata/subscriptions/unsubscribe/",
        {"account": account.pk, "symbol": "BTC/USDT"},
        format="json",
    )
    assert gone.json() == {"deleted": 2}
    assert list(Subscription.objects.values_list("pk", flat=True)) == [eth["id"]]
    assert api.delete(f"/api/marketdata/subscriptions/{eth['id']}/").status_code == 204
    assert not Subscription.objects.exists()


def test_candles_are_listed_oldest_first_in_a_time_range_and_paginated(api, account):
    t0 = to_ms(datetime(2026, 11, 5, tzinfo=UTC))
    rows = [[t0 + m * 60_000, 100, 101, 99, 100 + m, 1] for m in range(10)]
    candles_store(venue=VENUE, symbol="BTC/USDT", timeframe="1m", rows=rows, now_ms=t0 + 3_600_000)
    response = api.get(
        "/api/candles/",
        {
            "account": account.pk,
            "symbol": "BTC/USDT",
            "timeframe": "1m",
            "start": "2026-11-05T00:02:00Z",
            "end": "2026-11-05T00:07:00Z",
            "limit": 3,
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 6
    closes = [Decimal(c["close"]) for c in body["results"]]
    assert closes == [Decimal("102"), Decimal("103"), Decimal("104")]
    assert body["results"][0]["open_time"] == "2026-11-05T00:02:00Z"
    bad = api.get("/api/candles/", {"account": account.pk, "symbol": "BTC/USDT", "timeframe": "x"})
    assert bad.status_code == 400
    backwards = api.get(
        "/api/candles/",
        {"account": account.pk, "symbol": "BTC/USDT", "start": "2026-11-06", "end": "2026-11-05"},
    )
    assert backwards.status_code == 400 and "end" in backwards.json()
    assert Candle.objects.count() == 10


def test_ticker_and_book_answer_with_their_age_and_a_stale_book_is_503(api, account, settings):
    query = {"account": account.pk, "symbol": "BTC/USDT"}
    assert api.get("/api/marketdata/ticker/", query).status_code == 404
    live.ticker_write(
        VENUE,
        "BTC/USDT",
        {"last": 60000.5, "bid": 60000.0, "ask": 60001.0, "timestamp": live.now_ms()},
    )
    ticker = api.get("/api/marketdata/ticker/", query).json()
    assert (ticker["last"], ticker["bid"], ticker["ask"], ticker["venue"]) == (
        "60000.5",
        "60000",
        "60001",
        VENUE,
    )
    settings.MARKETDATA_BOOK_MAX_AGE_SECONDS = 5
    live.book_write(
        VENUE,
        "BTC/USDT",
        {"bids": [[1, 2]], "asks": [[3, 4]], "timestamp": live.now_ms() - 60_000},
        5,
    )
    stale = api.get("/api/marketdata/book/", query)
    assert stale.status_code == 503 and "old" in stale.json()["detail"]
    live.book_write(
        VENUE,
        "BTC/USDT",
        {"bids": [[1, 2], [0.5, 1]], "asks": [[3, 4]], "timestamp": live.now_ms()},
        5,
    )
    book = api.get("/api/marketdata/book/", {**query, "levels": 1}).json()
    assert book["bids"] == [["1", "2"]] and book["asks"] == [["3", "4"]]


def test_status_names_each_venue_of_the_users_subscriptions(api, account):
    subscribe(api, account, kind="ticker")
    rows = api.get("/api/marketdata/subscriptions/status/").json()
    assert rows == [
        {
            "venue": VENUE,
            "connected": False,
            "streams": 0,
            "messages_per_second": 0.0,
            "last_message_age_ms": None,
            "subscriptions": 1,
        }
    ]
    live.status_write(
        VENUE,
        {
            "venue": VENUE,
            "connected": True,
            "streams": 1,
            "messages_per_second": 4.5,
            "last_message_age_ms": 120,
        },
    )
    row = api.get("/api/marketdata/subscriptions/status/").json()[0]
    assert (row["connected"], row["messages_per_second"], row["subscriptions"]) == (True, 4.5, 1)
