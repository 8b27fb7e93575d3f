"""Authenticated pages and API answers are never cached: private, no-store."""

import pytest
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def directives(response) -> set[str]:
    return {part.strip() for part in response.get("Cache-Control", "").split(",")}


def test_a_logged_in_users_pages_are_private_and_not_stored(client):
    client.force_login(UserFactory())

    for path in ("/", "/orders/", "/accounts/"):
        response = client.get(path)
        assert response.status_code == 200
        assert {"private", "no-store"} <= directives(response), path


def test_api_answers_are_private_and_not_stored_for_tokens_too():
    from accounts.services import api_token_create

    _, key = api_token_create(user=UserFactory())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    response = client.get("/api/orders/")

    assert response.status_code == 200
    assert {"private", "no-store"} <= directives(response)
