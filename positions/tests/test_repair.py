"""``manage.py fills_repair``: trades the platform never recorded, read back and applied."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from orders import services
from orders.models import Fill
from orders.services import OrderRequest
from positions.models import Position

pytestmark = pytest.mark.django_db


def buy(account, symbol, amount):
    order, _ = services.order_submit(
        account=account,
        request=OrderRequest(symbol=symbol, side="buy", type="market", amount=Decimal(amount)),
        origin="api",
        actor="test",
    )
    services.order_send(order_id=order.pk)
    return order


def test_trades_missed_by_the_platform_are_recorded_once_and_holdings_rebuilt(
    make_sim_account, sim_client
):
    account = make_sim_account()
    buy(account, "BTC/USDT", "0.01")
    # Trades the platform never heard of (placed on the exchange directly, no stream).
    venue = sim_client(account)
    venue.create_order("BTC/USDT", "market", "buy", 0.02)
    venue.create_order("ETH/USDT", "market", "buy", 0.5)
    assert Fill.objects.filter(account=account).count() == 1
    out = StringIO()
    window = ["--since", (timezone.now() - timedelta(hours=1)).isoformat()]
    # By default the symbols the account traded through the platform; more by name.
    window += ["--symbol", "BTC/USDT", "--symbol", "ETH/USDT"]

    call_command("fills_repair", "--account", str(account.pk), *window, "--dry-run", stdout=out)
    assert Fill.objects.filter(account=account).count() == 1
    assert "would add 2 fills" in out.getvalue()

    call_command("fills_repair", "--account", str(account.pk), *window, stdout=out)
    fills = Fill.objects.filter(account=account)
    assert sorted(fills.values_list("symbol", flat=True)) == ["BTC/USDT", "BTC/USDT", "ETH/USDT"]
    btc = Position.objects.get(account=account, symbol="BTC/USDT", status="open")
    bought = sum(
        f.amount - (f.fee if f.fee_asset == "BTC" else 0) for f in fills.filter(symbol="BTC/USDT")
    )
    assert btc.contracts == bought
    assert Position.objects.filter(account=account, symbol="ETH/USDT", status="open").exists()

    out = StringIO()
    call_command("fills_repair", "--account", str(account.pk), *window, stdout=out)
    assert "added 0 fills" in out.getvalue()
    assert Fill.objects.filter(account=account).count() == 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--account", "999999", "--since", "2026-11-01"], "no exchange account 999999"),
        (["--all", "--since", "yesterday"], "is not a date"),
        (["--all", "--since", "2026-11-02", "--until", "2026-11-01"], "before --until"),
    ],
)
def test_bad_arguments_are_refused_with_a_message(db, arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("fills_repair", *arguments)
