"""Balances and positions arriving by the account's websocket stream (ccxt.pro)."""

from decimal import Decimal

import pytest

from positions.models import Balance, Position

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_position_and_its_balance_arrive_by_the_stream(
    make_sim_account, sim, sim_client, running_stream, stream_state, wait_for
):
    account = make_sim_account(market_type="swap")
    running_stream(account)
    wait_for(
        lambda: (s := stream_state(account)) and s.ws_connected,
        timeout=20,
        message="the stream to connect",
    )

    sim_client(account).create_order("BTC/USDT:USDT", "market", "buy", 0.02)

    position = wait_for(
        lambda: Position.objects.filter(account=account, status="open").first(),
        timeout=20,
        message="the position by the stream",
    )
    assert (position.symbol, position.side, position.contracts) == (
        "BTC/USDT:USDT",
        "long",
        Decimal("0.02"),
    )
    assert position.entry_price == Decimal("60000.1")
    wait_for(
        lambda: Balance.objects.filter(account=account, asset="USDT").exists(),
        timeout=20,
        message="the balance by the stream",
    )
