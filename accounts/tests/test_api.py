import pytest
from django.urls import reverse

from accounts.models import ExchangeAccount
from accounts.tests.factories import ExchangeAccountFactory

pytestmark = pytest.mark.django_db

KEY = "my-api-key-0123456789WXYZ"
SECRET = "my-api-secret-SUPERSECRETVALUE"


def valid_payload(**overrides):
    payload = {
        "exchange_id": "binance",
        "label": "main",
        "mode": "simulator",
        "market_type": "spot",
        "api_key": KEY,
        "api_secret": SECRET,
    }
    payload.update(overrides)
    return payload


def test_creating_an_account_stores_it_and_returns_only_the_masked_key(api, user):
    response = api.post("/api/accounts/", valid_payload(), format="json")

    assert response.status_code == 201, response.content
    body = response.content.decode()
    assert KEY not in body and SECRET not in body
    assert response.json()["masked_key"] == "****WXYZ"
    account = ExchangeAccount.objects.get(owner=user)
    assert account.label == "main" and account.can_trade is False


def test_no_api_response_contains_a_credential(api, user):
    account = ExchangeAccountFactory(owner=user, api_key=KEY, api_secret=SECRET)
    responses = [
        api.get("/api/accounts/"),
        api.get(f"/api/accounts/{account.pk}/"),
        api.patch(f"/api/accounts/{account.pk}/", {"label": "renamed"}, format="json"),
        api.post(f"/api/accounts/{account.pk}/deactivate/"),
    ]

    for response in responses:
        assert response.status_code == 200, response.content
        body = response.content.decode()
        assert KEY not in body and SECRET not in body
        assert "api_secret" not in body and "api_key" not in body


def test_another_users_account_is_a_404_for_every_action(api, other_user):
    theirs = ExchangeAccountFactory(owner=other_user)

    assert api.get(f"/api/accounts/{theirs.pk}/").status_code == 404
    assert (
        api.patch(f"/api/accounts/{theirs.pk}/", {"label": "x"}, format="json").status_code == 404
    )
    assert api.post(f"/api/accounts/{theirs.pk}/deactivate/").status_code == 404
    assert api.post(f"/api/accounts/{theirs.pk}/test/").status_code == 404
    assert api.get("/api/accounts/").json()["results"] == []
    theirs.refresh_from_db()
    assert theirs.is_active is True and theirs.label != "x"


def test_anonymous_requests_are_refused(client):
    assert client.get("/api/accounts/").status_code in (401, 403)


@pytest.mark.parametrize(
    ("overrides", "field_or_text"),
    [
        ({"exchange_id": "notanexchange"}, "Unknown exchange"),
        ({"api_secret": ""}, "api_secret"),
        ({"api_key": ""}, "api_key"),
        ({"mode": "sandbox"}, "mode"),
        ({"market_type": "options"}, "market_type"),
        ({"can_trade": "maybe"}, "can_trade"),
        ({"label": ""}, "label"),
        ({"label": ["a", "list"]}, "label"),
        ({"mode": "simulator", "exchange_id": "kraken"}, "Binance only"),
        ({"exchange_id": "okx", "mode": "live"}, "api_passphrase"),
    ],
)
def test_bad_input_is_a_400_with_a_message_and_creates_nothing(api, overrides, field_or_text):
    response = api.post("/api/accounts/", valid_payload(**overrides), format="json")

    assert response.status_code == 400
    assert field_or_text in response.content.decode()
    assert ExchangeAccount.objects.count() == 0


def test_a_duplicate_label_is_a_400_not_a_500(api, user):
    ExchangeAccountFactory(owner=user, label="main")

    response = api.post("/api/accounts/", valid_payload(label="main"), format="json")

    assert response.status_code == 400
    assert "already have an account labelled" in response.json()["detail"]
    assert ExchangeAccount.objects.count() == 1


def test_malformed_json_is_a_400(api):
    response = api.post("/api/accounts/", "{not json", content_type="application/json")

    assert response.status_code == 400
    assert ExchangeAccount.objects.count() == 0


def test_exchange_mode_and_market_type_cannot_be_changed(api, account):
    response = api.patch(f"/api/accounts/{account.pk}/", {"mode": "live"}, format="json")

    assert response.status_code == 400
    assert "Create a new account" in response.json()["mode"][0]
    account.refresh_from_db()
    assert account.mode == "simulator"


def test_new_credentials_replace_the_old_ones_and_update_the_masked_key(api, account):
    response = api.patch(
        f"/api/accounts/{account.pk}/",
        {"api_key": "rotated-key-00000000NEW1", "api_secret": "rotated-secret"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["masked_key"] == "****NEW1"
    from accounts.gateway import load_credentials

    credentials = load_credentials(ExchangeAccount.objects.get(pk=account.pk))
    assert credentials.api_key == "rotated-key-00000000NEW1"
    assert credentials.secret == "rotated-secret"


def test_deactivate_keeps_the_account_but_stops_it(api, account):
    response = api.post(f"/api/accounts/{account.pk}/deactivate/")

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert ExchangeAccount.objects.filter(pk=account.pk, is_active=False).exists()


def test_the_list_runs_a_fixed_number_of_queries(api, user, django_assert_max_num_queries):
    for _ in range(10):
        ExchangeAccountFactory(owner=user)

    with django_assert_max_num_queries(4):
        response = api.get(reverse("account-list"))

    assert len(response.json()["results"]) == 10
