import pytest
from rest_framework.test import APIClient

from accounts.tests.factories import ExchangeAccountFactory, UserFactory


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def account(user):
    return ExchangeAccountFactory(owner=user)
