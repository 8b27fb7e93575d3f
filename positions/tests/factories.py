import factory
from django.utils import timezone

from accounts.tests.factories import ExchangeAccountFactory
from positions.models import Balance, Position


class PositionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Position

    account = factory.SubFactory(ExchangeAccountFactory, market_type="swap")
    symbol = factory.Sequence(lambda n: f"C{n}/USDT:USDT")
    side = "long"
    source = "exchange"
    base_asset = factory.LazyAttribute(lambda p: p.symbol.split("/")[0])
    quote_asset = "USDT"
    contracts = "0.5"
    entry_price = "100"
    mark_price = "110"
    unrealized_pnl = "5"
    opened_at = factory.LazyFunction(timezone.now)


class BalanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Balance

    account = factory.SubFactory(ExchangeAccountFactory)
    asset = "USDT"
    total = "1000"
    free = "1000"
    used = "0"
    synced_at = factory.LazyFunction(timezone.now)
