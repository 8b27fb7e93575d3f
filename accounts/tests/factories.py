from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from accounts.models import ExchangeAccount


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"trader{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("correct-horse-battery")


class ExchangeAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExchangeAccount

    owner = factory.SubFactory(UserFactory)
    exchange_id = "binance"
    label = factory.Sequence(lambda n: f"account {n}")
    mode = ExchangeAccount.Mode.SIMULATOR
    market_type = ExchangeAccount.MarketType.SPOT
    api_key = factory.Sequence(lambda n: f"simkey-{n:04d}-abcdefghijklmnop")
    api_secret = factory.Sequence(lambda n: f"simsecret-{n:04d}-qrstuvwxyz0123456789")
    key_last4 = factory.LazyAttribute(lambda account: account.api_key[-4:])
    can_trade = True
