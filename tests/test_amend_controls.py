"""An amendment is a new proposal: it passes the same pre-trade controls as a new order -
the risk gate with its decision row when requested, the account and the halts again when
sent - on spot (cancel-replace) and USD-M (modified in place), against the simulator."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from orders import services
from orders.models import Order, OrderEvent
from orders.states import Status
from orders.tests.test_lifecycle import send, submit, venue_orders
from risk.models import RiskDecision, RiskLimit, RiskState
from risk.services import kill_switch_set

pytestmark = pytest.mark.django_db

SYMBOLS = {"spot": "BTC/USDT", "swap": "BTC/USDT:USDT"}


def resting_order(make_sim_account, market_type):
    account = make_sim_account(market_type=market_type)
    order = submit(
        account,
        symbol=SYMBOLS[market_type],
        type="limit",
        amount=Decimal("0.01"),
        price=Decimal("59000"),
    )
    send(order)
    assert order.status == Status.OPEN
    return account, order


def venue_book(sim, account):
    return [
        (Decimal(o["price"]), Decimal(o["origQty"]))
        for o in venue_orders(sim, account)["open_orders"]
    ]


def global_kill(account):
    kill_switch_set(on=True, actor="test", reason="incident")


def account_kill(account):
    kill_switch_set(on=True, actor="test", reason="lunch", account=account)


def breaker(account):
    RiskState.objects.update_or_create(
        account=account, defaults={"breaker": "daily_loss", "breaker_reason": "lost too much"}
    )


def read_only(account):
    account.can_trade = False
    account.save(update_fields=["can_trade"])


def tight_limits(account):
    RiskLimit.objects.create(
        owner=account.owner,
        scope="account",
        account=account,
        max_order_amount=Decimal("0.01"),
        max_order_value=Decimal("600"),
    )


@pytest.mark.parametrize("market_type", ["spot", "swap"])
@pytest.mark.parametrize(
    ("control", "says"),
    [
        (global_kill, "global kill switch on"),
        (account_kill, "kill switch on"),
        (breaker, "circuit breaker"),
        (read_only, "can_trade is off"),
        (tight_limits, "max"),
    ],
)
def test_an_amendment_that_a_control_forbids_is_refused_and_the_venue_is_untouched(
    make_sim_account, sim, market_type, control, says
):
    account, order = resting_order(make_sim_account, market_type)
    decisions_before = RiskDecision.objects.count()
    control(account)
    client = APIClient()
    client.force_authenticate(account.owner)

    response = client.post(
        f"/api/orders/{order.pk}/amend/", {"amount": "0.5", "price": "70000"}, format="json"
    )

    assert response.status_code == 403, response.content
    assert says in response.json()["detail"]
    assert venue_book(sim, account) == [(Decimal("59000"), Decimal("0.01"))]
    order.refresh_from_db()
    assert (order.amount, order.price, order.status) == (
        Decimal("0.01"),
        Decimal("59000"),
        Status.OPEN,
    )
    assert not Order.objects.filter(replaces=order).exists()
    assert not OrderEvent.objects.filter(order=order, type="order.amend_requested").exists()
    if control is not read_only:
        decision = RiskDecision.objects.latest("pk")
        assert RiskDecision.objects.count() == decisions_before + 1
        assert decision.approved is False
        assert decision.context == {"amends": order.pk}
        assert Decimal(decision.proposal["amount"]) == Decimal("0.5")


@pytest.mark.parametrize("market_type", ["spot", "swap"])
def test_an_approved_amendment_leaves_its_decision(make_sim_account, sim, market_type):
    account, order = resting_order(make_sim_account, market_type)
    # The order's own 590 USDT is replaced by the amendment's, not added to it.
    RiskLimit.objects.create(
        owner=account.owner, scope="account", account=account, max_order_value=Decimal("700")
    )

    carrier = services.order_amend(order=order, actor="test", amount=Decimal("0.011"))

    decision = RiskDecision.objects.latest("pk")
    assert decision.approved is True
    assert decision.context == {"amends": order.pk}
    if market_type == "spot":
        assert decision.order_id == carrier.pk != order.pk


@pytest.mark.parametrize("market_type", ["spot", "swap"])
@pytest.mark.parametrize("control", [account_kill, read_only])
def test_an_amendment_queued_before_a_halt_is_not_sent(make_sim_account, sim, market_type, control):
    account, order = resting_order(make_sim_account, market_type)
    carrier = services.order_amend(
        order=order, actor="test", amount=Decimal("0.02"), price=Decimal("59500")
    )
    control(account)

    if market_type == "spot":
        assert services.order_replace_send(order_id=carrier.pk) == "done"
        carrier.refresh_from_db()
        assert carrier.status == Status.CANCELED
        assert "not sent" in carrier.status_reason
    else:
        requested = OrderEvent.objects.get(order=order, type="order.amend_requested")
        assert services.order_amend_send(event_id=requested.pk) == "done"

    assert venue_book(sim, account) == [(Decimal("59000"), Decimal("0.01"))]
    order.refresh_from_db()
    assert (order.amount, order.price, order.status) == (
        Decimal("0.01"),
        Decimal("59000"),
        Status.OPEN,
    )
    assert OrderEvent.objects.filter(order=order, type="order.amend_refused").exists()


@pytest.mark.parametrize(("amount", "passes"), [("0.005", True), ("0.02", False)])
def test_only_a_reduce_only_amendment_that_does_not_grow_passes_a_halt(
    make_sim_account, sim, amount, passes
):
    from orders.services.amend import _send_refusal

    account = make_sim_account(market_type="swap")
    order = Order.objects.create(
        account=account,
        symbol="BTC/USDT:USDT",
        side="sell",
        type="limit",
        amount=Decimal("0.01"),
        remaining=Decimal("0.01"),
        price=Decimal("61000"),
        reduce_only=True,
        client_order_id="tp-reduce-1",
        status=Status.OPEN,
        origin="api",
    )
    account_kill(account)

    refusal = _send_refusal(order, grows=Decimal(amount) > order.amount)

    assert (refusal == "") is passes


def test_an_order_of_a_key_that_can_withdraw_is_never_sent(make_sim_account, sim):
    account = make_sim_account()
    order = submit(account, type="limit", amount=Decimal("0.01"), price=Decimal("59000"))
    account.key_can_withdraw = True
    account.save(update_fields=["key_can_withdraw"])

    send(order)

    assert order.status == Status.CANCELED
    assert "can withdraw" in order.status_reason
    assert venue_orders(sim, account)["open_orders"] == []
