"""Signals from the API and TradingView, through the risk gate to orders."""

import json
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from orders.models import Order
from positions.models import Balance
from strategies import services
from strategies.api.serializers import normalize_symbol
from strategies.models import Signal, SignalSource

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(make_sim_account):
    account = make_sim_account()
    Balance.objects.create(
        account=account,
        asset="USDT",
        total="100000",
        free="100000",
        used="0",
        synced_at=timezone.now(),
    )
    return account


@pytest.fixture
def webhook(account):
    source = SignalSource.objects.create(
        owner=account.owner,
        name="tv",
        kind="webhook",
        account=account,
        sizing="fixed_quote",
        sizing_value=Decimal("600"),
    )
    source.plain_secret = services.source_set_secret(source=source)
    return source


def alert(webhook, **fields):
    body = {"secret": webhook.plain_secret, "id": "alert-1", "ticker": "BTCUSDT", "action": "buy"}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def post_alert(client, webhook, body, raw=None):
    return client.post(
        f"/api/webhooks/tradingview/{webhook.pk}/",
        data=raw if raw is not None else json.dumps(body),
        content_type="application/json",
    )


def process_all():
    for signal in Signal.objects.filter(status="received"):
        services.signal_process(signal_id=signal.pk)


def test_an_alert_becomes_one_signal_and_one_order_even_when_sent_twice(
    client, webhook, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as queued:
        first = post_alert(client, webhook, alert(webhook))
        again = post_alert(client, webhook, alert(webhook))
    process_all()
    process_all()

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["duplicate"] is True
    assert sum("signal_process" in repr(c) for c in queued) == 1  # one processing task
    signal = Signal.objects.get()
    assert signal.status == "approved"
    order = Order.objects.get()
    assert (order.symbol, order.side, order.origin) == ("BTC/USDT", "buy", "signal")
    assert order.amount == Decimal("0.01")  # 600 USDT at the last price, 60000
    assert list(signal.orders.all()) == [order]
    assert signal.decisions.get().approved is True


@pytest.mark.parametrize(
    ("body_change", "raw"),
    [
        ({"secret": "wrong"}, None),
        ({"secret": None}, None),
    ],
)
def test_a_wrong_or_missing_secret_is_refused_and_nothing_is_stored(
    client, webhook, body_change, raw
):
    response = post_alert(
        client,
        webhook,
        {**alert(webhook), **body_change}
        if body_change.get("secret")
        else {k: v for k, v in alert(webhook).items() if k != "secret"},
    )

    assert response.status_code == 403
    assert Signal.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"ticker": "NOPEUSDT"}, "Unknown symbol"),
        ({"action": None}, "action"),
        ({"action": "hodl"}, "action"),
        ({"strength": "2"}, "strength"),
        ({"ticker": None}, "symbol"),
    ],
)
def test_bad_alerts_are_400_with_a_message_and_store_nothing(client, webhook, body, text):
    response = post_alert(
        client,
        webhook,
        alert(webhook, **body)
        if all(v is not None for v in body.values())
        else {k: v for k, v in alert(webhook).items() if k not in body},
    )

    assert response.status_code == 400, response.content
    assert text in response.content.decode()
    assert Signal.objects.count() == 0


def test_malformed_json_is_400(client, webhook):
    response = post_alert(client, webhook, None, raw="{not json")

    assert response.status_code == 400
    assert Signal.objects.count() == 0


def test_the_ip_allowlist_defaults_to_tradingviews_addresses(client, webhook):
    webhook.ip_allowlist_enabled = True
    webhook.save()

    refused = post_alert(client, webhook, alert(webhook))
    allowed = client.post(
        f"/api/webhooks/tradingview/{webhook.pk}/",
        data=json.dumps(alert(webhook)),
        content_type="application/json",
        REMOTE_ADDR="52.89.214.238",
    )

    assert refused.status_code == 403
    assert allowed.status_code == 202


def test_weak_signals_below_the_sources_threshold_are_kept_and_ignored(client, webhook):
    webhook.min_confidence = Decimal("0.6")
    webhook.save()

    post_alert(client, webhook, alert(webhook, strength="0.5"))
    process_all()

    signal = Signal.objects.get()
    assert signal.status == "ignored"
    assert "below" in signal.status_reason
    assert Order.objects.count() == 0


def test_a_signal_the_risk_gate_refuses_is_rejected_with_the_reason(client, webhook, account):
    from risk.models import RiskLimit

    RiskLimit.objects.create(
        owner=account.owner, scope="account", account=account, allowed_symbols=["ETH/USDT"]
    )

    post_alert(client, webhook, alert(webhook))
    process_all()

    signal = Signal.objects.get()
    assert signal.status == "rejected"
    assert "BTC/USDT" in signal.status_reason
    assert signal.decisions.get().approved is False
    assert Order.objects.count() == 0


def test_signals_through_the_api_with_stop_loss_and_take_profit_percent(account):
    client = APIClient()
    client.force_authenticate(account.owner)

    body = {
        "account": account.pk,
        "symbol": "BTC/USDT",
        "action": "long",
        "size": "600",
        "entry_price": "59000",
        "stop_loss_pct": "0.02",
        "take_profit_pct": "0.05",
    }
    response = client.post("/api/signals/", body, format="json", HTTP_IDEMPOTENCY_KEY="sig-1")
    again = client.post("/api/signals/", body, format="json", HTTP_IDEMPOTENCY_KEY="sig-1")
    process_all()

    assert (response.status_code, again.status_code) == (201, 200)
    order = Order.objects.get()
    assert (order.type, order.price) == ("limit", Decimal("59000"))
    assert order.stop_loss_price == Decimal("57820")  # 59000 * 0.98
    assert order.take_profit_price == Decimal("61950")  # 59000 * 1.05
    detail = client.get(f"/api/signals/{response.json()['id']}/").json()
    assert detail["orders"][0]["id"] == order.pk
    assert detail["decisions"][0]["approved"] is True


def test_a_signal_idempotency_key_reused_with_a_different_body_is_422(account):
    client = APIClient()
    client.force_authenticate(account.owner)
    body = {"account": account.pk, "symbol": "BTC/USDT", "action": "long", "size": "600"}

    first = client.post("/api/signals/", body, format="json", HTTP_IDEMPOTENCY_KEY="sig-2")
    same = client.post(
        "/api/signals/", {**body, "size": "600.00"}, format="json", HTTP_IDEMPOTENCY_KEY="sig-2"
    )
    other = client.post(
        "/api/signals/",
        {**body, "action": "short", "stop_loss_pct": "0.02"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="sig-2",
    )

    assert (first.status_code, same.status_code) == (201, 200)
    assert other.status_code == 422, other.content
    assert "Idempotency-Key 'sig-2'" in other.json()["detail"]
    assert other.json()["differs"] == ["action", "stop_loss_pct"]
    assert Signal.objects.count() == 1


def test_unknown_signal_and_alert_fields_are_400_naming_them(client, webhook, account):
    api = APIClient()
    api.force_authenticate(account.owner)

    response = api.post(
        "/api/signals/",
        {"account": account.pk, "symbol": "BTC/USDT", "action": "long", "leverage": "20"},
        format="json",
    )
    alerted = post_alert(client, webhook, alert(webhook, stop_los_pct="0.02"))

    assert response.status_code == 400
    assert list(response.json()) == ["leverage"]
    assert alerted.status_code == 400
    assert list(alerted.json()) == ["stop_los_pct"]
    assert Signal.objects.count() == 0


def test_a_group_signal_fans_out_by_weight(make_sim_account):
    from accounts.models import AccountGroup, AccountGroupMember
    from accounts.tests.factories import UserFactory

    owner = UserFactory()
    first, second = make_sim_account(owner=owner), make_sim_account(owner=owner)
    group = AccountGroup.objects.create(owner=owner, name="desk")
    AccountGroupMember.objects.create(group=group, account=first, weight=Decimal("0.75"))
    AccountGroupMember.objects.create(group=group, account=second, weight=Decimal("0.25"))
    client = APIClient()
    client.force_authenticate(owner)

    client.post(
        "/api/signals/",
        {"group": group.pk, "symbol": "BTC/USDT", "action": "buy", "size": "1200"},
        format="json",
    )
    process_all()

    amounts = dict(Order.objects.values_list("account_id", "amount"))
    # 1200 USDT at the last price 60000 = 0.02 BTC; x0.75 and x0.25
    assert amounts == {first.pk: Decimal("0.015"), second.pk: Decimal("0.005")}


@pytest.mark.parametrize(
    ("ticker", "symbol"),
    [("BTCUSDT", "BTC/USDT"), ("BTCUSDT.P", "BTC/USDT:USDT"), ("eth/usdt", "ETH/USDT")],
)
def test_tradingview_tickers_become_ccxt_symbols(ticker, symbol):
    assert normalize_symbol(ticker) == symbol


def test_sizing_is_capped_by_the_limits_and_rounded_down_to_the_step(client, webhook, account):
    from risk.models import RiskLimit

    RiskLimit.objects.create(
        owner=account.owner, scope="account", account=account, max_order_value=Decimal("300")
    )
    webhook.sizing_value = Decimal("1000")
    webhook.save()

    post_alert(client, webhook, alert(webhook))
    process_all()

    # 1000 USDT wanted, capped at 300 USDT: 300 / 60000 = 0.005 BTC
    assert Order.objects.get().amount == Decimal("0.005")
    assert Signal.objects.get().status == "approved"


def test_kelly_sizing_uses_the_accounts_closed_trades(client, webhook, account):
    from positions.tests.factories import PositionFactory

    now = timezone.now()
    for pnl in ("30", "-10", "20", "-10"):  # win rate 0.5, payoff 25 / 10 = 2.5
        PositionFactory(
            account=account, status="closed", closed_at=now, opened_at=now, realized_pnl=pnl
        )
    webhook.sizing = "kelly"
    webhook.sizing_value = Decimal("0.5")  # half Kelly
    webhook.sizing_params = {"cap_pct": "0.2"}
    webhook.save()

    post_alert(client, webhook, alert(webhook))
    process_all()

    # Kelly f* = 0.5 - 0.5 / 2.5 = 0.3; half: 0.15 of equity 100000 = 15000 USDT at 60000
    assert Order.objects.get().amount == Decimal("0.25")


def test_kelly_sizing_without_a_history_fails_the_signal_clearly(client, webhook):
    webhook.sizing = "kelly"
    webhook.save()

    post_alert(client, webhook, alert(webhook))
    process_all()

    signal = Signal.objects.get()
    assert signal.status == "failed"
    assert "closed trades" in signal.status_reason


def test_volatility_sizing_risks_a_fraction_of_equity_per_atr(client, webhook, monkeypatch):
    # 16 candles: high - low = 200 every period, no gaps: ATR(14) = 200
    candles = [(Decimal(60100), Decimal(59900), Decimal(60000))] * 16
    monkeypatch.setattr(services, "recent_candles", lambda *args, **kwargs: candles)
    webhook.sizing = "volatility"
    webhook.sizing_value = Decimal("0.01")  # 1 % of equity per 2 ATR
    webhook.sizing_params = {"atr_multiple": "2", "period": 14}
    webhook.save()

    post_alert(client, webhook, alert(webhook))
    process_all()

    # 100000 * 0.01 / (200 * 2) = 2.5 BTC
    assert Order.objects.get().amount == Decimal("2.5")


def test_volatility_sizing_with_too_little_history_fails_the_signal(client, webhook, monkeypatch):
    # A venue listed an hour ago: 3 candles where ATR(14) needs 15. (The simulator serves
    # kline history back to 2017, so the few candles are handed over here.)
    candles = [(Decimal(60100), Decimal(59900), Decimal(60000))] * 3
    monkeypatch.setattr(services, "recent_candles", lambda *args, **kwargs: candles)
    webhook.sizing = "volatility"
    webhook.sizing_value = Decimal("0.01")
    webhook.sizing_params = {"timeframe": "1h", "period": 14}
    webhook.save()

    post_alert(client, webhook, alert(webhook))
    process_all()

    signal = Signal.objects.get()
    assert signal.status == "failed"
    assert "Volatility sizing" in signal.status_reason
    assert "at least 15 candles" in signal.status_reason


def test_performance_per_strategy_is_measured_on_its_account(account):
    from datetime import timedelta

    from positions.tests.factories import PositionFactory
    from strategies.models import Strategy

    now = timezone.now()
    for pnl in ("30", "-10"):
        PositionFactory(
            account=account,
            status="closed",
            closed_at=now,
            opened_at=now - timedelta(hours=1),
            realized_pnl=pnl,
        )
    mine = Strategy.objects.create(owner=account.owner, name="trend", account=account)
    homeless = Strategy.objects.create(owner=account.owner, name="adrift")
    client = APIClient()
    client.force_authenticate(account.owner)

    body = client.get(f"/api/strategies/{mine.pk}/performance/").json()
    refused = client.get(f"/api/strategies/{homeless.pk}/performance/")

    assert body["trade_count"] == 2
    assert Decimal(body["profit_factor"]) == Decimal("3")
    assert refused.status_code == 400
    assert "account of its own" in refused.json()["detail"]


def test_behind_a_proxy_the_allowlist_reads_the_forwarded_address(client, webhook, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    webhook.ip_allowlist_enabled = True
    webhook.save()
    url = f"/api/webhooks/tradingview/{webhook.pk}/"
    body = json.dumps(alert(webhook))

    forged = client.post(
        url,
        data=body,
        content_type="application/json",
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="52.89.214.238, 203.0.113.9",
    )
    genuine = client.post(
        url,
        data=body,
        content_type="application/json",
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="52.89.214.238",
    )

    assert forged.status_code == 403  # the client wrote the left part; our proxy the right
    assert genuine.status_code == 202


def test_the_processed_signal_is_pushed_with_its_order_and_decision_as_the_api_shows_it(
    client, webhook, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from common.api import represent
    from strategies.api.serializers import SignalOutput

    pushed, queries = [], []
    monkeypatch.setattr(services, "broadcast_on_commit", lambda **message: pushed.append(message))
    publish = services._publish_signal

    def counted(signal):
        with CaptureQueriesContext(connection) as captured:
            publish(signal)
        queries.append(len(captured))

    monkeypatch.setattr(services, "_publish_signal", counted)
    post_alert(client, webhook, alert(webhook))
    process_all()

    signal = Signal.objects.get()
    last = [m for m in pushed if m["event"] == "signal.updated"][-1]["payload"]
    assert last["status"] == "approved"
    assert [o["id"] for o in last["orders"]] == [Order.objects.get().pk]
    assert last["decisions"][0]["approved"] is True
    assert last == represent(SignalOutput, signal)
    assert queries[-1] == 0  # the links just made are pushed without reading them back
