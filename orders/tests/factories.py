import factory

from accounts.tests.factories import ExchangeAccountFactory
from orders import venue
from orders.models import Fill, Order, OrderEvent


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    account = factory.SubFactory(ExchangeAccountFactory)
    symbol = "BTC/USDT"
    side = "buy"
    type = "limit"
    amount = factory.Faker("pydecimal", left_digits=1, right_digits=3, positive=True)
    price = factory.Faker("pydecimal", left_digits=5, right_digits=2, positive=True)
    remaining = factory.SelfAttribute("amount")
    client_order_id = factory.LazyAttribute(lambda o: venue.client_order_id(account_id=1))
    status = "open"


class OrderEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderEvent

    order = factory.SubFactory(OrderFactory)
    type = "order.created"
    actor = "test"


class FillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Fill

    order = factory.SubFactory(OrderFactory)
    account = factory.SelfAttribute("order.account")
    exchange_trade_id = factory.Sequence(str)
    symbol = "BTC/USDT"
    side = "buy"
    price = "60000"
    amount = "0.01"
    cost = "600"
