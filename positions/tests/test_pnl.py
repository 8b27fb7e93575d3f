"""Average-cost P&L for spot, with fees - literal Decimals, computed by hand."""

from decimal import Decimal as D

from positions.pnl import Holding, SpotFill, apply_fill


def fill(side, amount, price, fee="0", fee_asset="USDT"):
    return SpotFill(
        side=side,
        amount=D(amount),
        price=D(price),
        fee=D(fee),
        fee_asset=fee_asset,
        base="BTC",
        quote="USDT",
    )


def test_buys_average_their_cost_including_quote_fees():
    # 0.1 @ 60000 + 6 fee = 6006; 0.1 @ 62000 + 6.2 fee = 6206.2; total 12212.2 / 0.2
    holding = Holding()
    holding = apply_fill(holding, fill("buy", "0.1", "60000", "6")).holding
    holding = apply_fill(holding, fill("buy", "0.1", "62000", "6.2")).holding

    assert holding.amount == D("0.2")
    assert holding.average_cost == D("61061")
    assert holding.realized == D("0")


def test_a_sell_realizes_against_average_cost_less_its_fee():
    holding = Holding(amount=D("0.2"), average_cost=D("61061"))

    applied = apply_fill(holding, fill("sell", "0.05", "63000", "3.15"))

    # (63000 - 61061) * 0.05 = 96.95; less 3.15 fee = 93.80
    assert applied.realized == D("93.80")
    assert applied.holding.amount == D("0.15")
    assert applied.holding.average_cost == D("61061")
    assert applied.holding.realized == D("93.80")


def test_a_fee_in_the_base_asset_means_fewer_coins_at_the_same_total_cost():
    applied = apply_fill(Holding(), fill("buy", "1", "100", "0.001", fee_asset="BTC"))

    # 0.999 coins for 100 USDT: 100 / 0.999
    assert applied.holding.amount == D("0.999")
    assert applied.holding.average_cost.quantize(D("0.000001")) == D("100.100100")


def test_selling_everything_closes_the_holding():
    applied = apply_fill(Holding(amount=D("1"), average_cost=D("100")), fill("sell", "1", "90"))

    assert applied.realized == D("-10")
    assert applied.holding == Holding(amount=D("0"), average_cost=D("0"), realized=D("-10"))


def test_selling_more_than_the_fills_explain_realizes_only_the_known_part():
    holding = Holding(amount=D("0.5"), average_cost=D("100"))

    applied = apply_fill(holding, fill("sell", "1", "120", "1.2"))

    # 0.5 known at cost 100: (120 - 100) * 0.5 = 10; half the fee (0.6) belongs to it
    assert applied.realized == D("9.4")
    assert applied.holding.amount == D("0")


def test_a_fee_in_another_asset_stays_out_of_the_cost_basis():
    applied = apply_fill(Holding(), fill("buy", "1", "100", "0.01", fee_asset="BNB"))

    assert applied.holding.average_cost == D("100")


def test_unrealized_is_against_average_cost():
    holding = Holding(amount=D("0.2"), average_cost=D("61061"))

    assert holding.unrealized(D("60000")) == D("-212.2")
