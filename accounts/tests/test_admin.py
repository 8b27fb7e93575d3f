import pytest

from accounts.models import ExchangeAccount
from accounts.tests.factories import ExchangeAccountFactory

pytestmark = pytest.mark.django_db

KEY = "admin-key-0123456789LAST"
SECRET = "admin-secret-NEVERSHOWNANYWHERE"


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_the_change_page_never_shows_a_credential(staff_client):
    account = ExchangeAccountFactory(api_key=KEY, api_secret=SECRET, api_passphrase="pass-PHRASE9")

    response = staff_client.get(f"/admin/accounts/exchangeaccount/{account.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert KEY not in html and SECRET not in html and "pass-PHRASE9" not in html
    assert "****LAST" in html


def test_the_changelist_never_shows_a_credential(staff_client, django_assert_max_num_queries):
    for _ in range(5):
        ExchangeAccountFactory(api_key=KEY, api_secret=SECRET)

    with django_assert_max_num_queries(8):
        response = staff_client.get("/admin/accounts/exchangeaccount/")

    assert response.status_code == 200
    html = response.content.decode()
    assert KEY not in html and SECRET not in html


def test_creating_through_the_admin_encrypts_and_masks(staff_client, admin_user):
    response = staff_client.post(
        "/admin/accounts/exchangeaccount/add/",
        {
            "owner": admin_user.pk,
            "exchange_id": "binance",
            "label": "from admin",
            "mode": "simulator",
            "market_type": "spot",
            "new_api_key": KEY,
            "new_api_secret": SECRET,
            "new_api_passphrase": "",
            "is_active": "on",
            "sync_states-TOTAL_FORMS": "0",
            "sync_states-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    account = ExchangeAccount.objects.get(label="from admin")
    assert account.key_last4 == "LAST"
    from accounts.gateway import load_credentials

    assert load_credentials(account).secret == SECRET


def test_leaving_the_secret_blank_keeps_the_stored_one(staff_client):
    account = ExchangeAccountFactory(api_key=KEY, api_secret=SECRET)

    response = staff_client.post(
        f"/admin/accounts/exchangeaccount/{account.pk}/change/",
        {
            "label": "renamed",
            "new_api_key": "",
            "new_api_secret": "",
            "new_api_passphrase": "",
            "can_trade": "on",
            "is_active": "on",
            "sync_states-TOTAL_FORMS": "0",
            "sync_states-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    from accounts.gateway import load_credentials

    account.refresh_from_db()
    assert account.label == "renamed"
    assert load_credentials(account).secret == SECRET


def test_an_unknown_exchange_in_the_admin_is_a_form_error_and_creates_nothing(
    staff_client, admin_user
):
    response = staff_client.post(
        "/admin/accounts/exchangeaccount/add/",
        {
            "owner": admin_user.pk,
            "exchange_id": "nope",
            "label": "bad",
            "mode": "simulator",
            "market_type": "spot",
            "new_api_key": KEY,
            "new_api_secret": SECRET,
            "sync_states-TOTAL_FORMS": "0",
            "sync_states-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert "Unknown exchange" in response.content.decode()
    assert not ExchangeAccount.objects.exists()
