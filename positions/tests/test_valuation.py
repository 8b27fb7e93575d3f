from decimal import Decimal as D

from positions.valuation import BalanceLine, PositionLine, asset_price, value_portfolio

PRICES = {"BTC/USDT": D("60000"), "ETH/USDT": D("3000"), "USDT/EUR": D("0.9")}


def test_assets_are_priced_directly_or_through_the_inverse_pair():
    assert asset_price("USDT", "USDT", PRICES) == D("1")
    assert asset_price("BTC", "USDT", PRICES) == D("60000")
    assert asset_price("EUR", "USDT", PRICES).quantize(D("0.0001")) == D("1.1111")
    assert asset_price("DOGE", "USDT", PRICES) is None


def test_equity_exposure_and_pnl_across_spot_and_derivatives():
    portfolio = value_portfolio(
        balances=[
            BalanceLine(1, "USDT", D("1000")),
            BalanceLine(1, "BTC", D("0.5")),
            BalanceLine(2, "USDT", D("5050")),  # margin balance, unrealized included
            BalanceLine(1, "DOGE", D("10")),
        ],
        positions=[
            PositionLine(1, "BTC/USDT", D("0.5"), D("58000"), None, None, derivative=False),
            PositionLine(
                2, "BTC/USDT:USDT", D("-0.1"), D("60500"), D("60000"), D("50"), derivative=True
            ),
            PositionLine(
                2, "ETH/USDT:USDT", D("2"), D("3100"), D("3000"), D("-200"), derivative=True
            ),
        ],
        prices=PRICES,
        reference="USDT",
        realized_today=D("-25"),
    )

    assert portfolio.equity_by_account == {1: D("31000"), 2: D("5050")}
    assert portfolio.equity == D("36050")
    assert portfolio.unvalued_assets == ["DOGE"]
    # BTC: 0.5 spot at 60000 = 30000, -0.1 perp at mark 60000 = -6000
    assert portfolio.exposure == {"BTC/USDT": D("24000.0"), "ETH/USDT": D("6000")}
    # spot (60000 - 58000) * 0.5 = 1000; derivatives 50 - 200
    assert portfolio.unrealized == D("850")
    assert portfolio.pnl_today == D("825")


def test_an_empty_portfolio_is_zero():
    portfolio = value_portfolio(balances=[], positions=[], prices={}, reference="USDT")

    assert (portfolio.equity, portfolio.unrealized, portfolio.exposure) == (D("0"), D("0"), {})
