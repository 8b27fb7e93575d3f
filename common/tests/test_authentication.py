"""API token authentication (common.authentication): DRF's answers, one query."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_valid_token_authenticates_its_user_in_one_query(django_assert_num_queries):
    from common.authentication import TokenAuthentication

    user = UserFactory()
    token = Token.objects.create(user=user)

    with django_assert_num_queries(1):
        authenticated, auth = TokenAuthentication().authenticate_credentials(token.key)

    assert authenticated == user
    assert auth == token
    assert auth.created == token.created
    assert auth.user is authenticated
    assert _client(token.key).get("/api/accounts/").status_code == 200


def test_an_unknown_token_is_401_with_drfs_message():
    response = _client("0" * 40).get("/api/accounts/")

    assert response.status_code == 401
    assert "Invalid token" in response.json()["detail"]


def test_an_inactive_users_token_is_refused():
    user = UserFactory(is_active=False)
    token = Token.objects.create(user=user)

    response = _client(token.key).get("/api/accounts/")

    assert response.status_code == 401
    assert "inactive" in response.json()["detail"]
