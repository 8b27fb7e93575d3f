"""API tokens: stored as hashes, shown in full once, expiring, revocable by their user and
by an admin; the admin shows only their first characters."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.authentication import TokenAuthentication
from accounts.models import ApiToken
from accounts.services import api_token_create
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # UserFactory's


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _address() -> str:
    # One of 65,536 (198.18.0.0/16, set aside for tests): the login lockout counts per
    # address for the whole run, and 250 addresses made tests collide now and then.
    n = uuid.uuid4().int
    return f"198.18.{n % 256}.{(n >> 8) % 256}"


def test_a_valid_token_authenticates_its_user_in_one_query(django_assert_num_queries):
    user = UserFactory()
    token, key = api_token_create(user=user)

    with django_assert_num_queries(1):
        authenticated, auth = TokenAuthentication().authenticate_credentials(key)

    assert authenticated == user
    assert isinstance(auth, ApiToken)
    assert auth.pk == token.pk
    assert auth.user is authenticated
    assert _client(key).get("/api/accounts/").status_code == 200


def test_only_a_hash_and_the_first_characters_of_the_key_are_stored():
    token, key = api_token_create(user=UserFactory(), name="bot")

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiToken._meta.db_table} WHERE id = %s", [token.pk])  # noqa: S608
        stored = " ".join(str(value) for value in cursor.fetchone())

    assert len(key) == 40
    assert key not in stored
    assert token.prefix == key[:8]
    assert token.key_hash != key


def test_a_token_expires_after_the_configured_days_by_default(settings):
    settings.API_TOKEN_DAYS = 90
    now = timezone.now()

    default, _ = api_token_create(user=UserFactory(), now=now)
    short, _ = api_token_create(user=UserFactory(), days=7, now=now)

    assert default.expires_at == now + timedelta(days=90)
    assert short.expires_at == now + timedelta(days=7)


def test_an_expired_token_is_401_saying_it_expired():
    token, key = api_token_create(user=UserFactory())
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = _client(key).get("/api/orders/")

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_a_user_revokes_a_token_and_it_is_refused_from_then_on():
    user = UserFactory()
    token, key = api_token_create(user=user)
    _other, other_key = api_token_create(user=user)
    client = _client(key)

    revoked = client.post(f"/api/tokens/{token.pk}/revoke/")
    after = client.get("/api/orders/")

    assert revoked.status_code == 200
    assert revoked.json()["state"] == "revoked"
    assert after.status_code == 401
    assert "revoked" in after.json()["detail"]
    assert _client(other_key).get("/api/orders/").status_code == 200  # only that one
    token.refresh_from_db()
    assert token.revoked_by == user


def test_a_user_sees_and_revokes_only_their_own_tokens_never_a_key():
    alice, bob = UserFactory(), UserFactory()
    _alices, alice_key = api_token_create(user=alice, name="alice bot")
    bobs, bob_key = api_token_create(user=bob, name="bob bot")
    client = _client(alice_key)

    listed = client.get("/api/tokens/").json()
    other = client.post(f"/api/tokens/{bobs.pk}/revoke/")

    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [row["name"] for row in rows] == ["alice bot"]
    assert rows[0]["prefix"] == alice_key[:8]
    assert "key" not in rows[0] and "key_hash" not in rows[0]
    assert alice_key not in str(listed)
    assert other.status_code == 404
    assert _client(bob_key).get("/api/orders/").status_code == 200


def test_a_logged_in_user_makes_a_token_and_its_key_is_shown_that_once():
    client = APIClient()
    client.force_login(UserFactory())

    made = client.post("/api/tokens/", {"name": "script", "days": 30}, format="json")
    listed = client.get("/api/tokens/")

    assert made.status_code == 201
    key = made.json()["key"]
    assert made.json()["prefix"] == key[:8]
    assert key not in listed.content.decode()
    assert _client(key).get("/api/orders/").status_code == 200


def test_a_token_cannot_make_tokens():
    _, key = api_token_create(user=UserFactory())

    response = _client(key).post("/api/tokens/", {"name": "more"}, format="json")

    assert response.status_code == 403
    assert ApiToken.objects.count() == 1


def test_a_lifetime_past_the_maximum_is_refused(settings):
    settings.API_TOKEN_MAX_DAYS = 365
    client = APIClient()
    client.force_login(UserFactory())

    response = client.post("/api/tokens/", {"days": 366}, format="json")

    assert response.status_code == 400
    assert "365" in str(response.json())
    assert ApiToken.objects.count() == 0


def test_a_script_makes_a_token_with_its_name_and_password():
    user = UserFactory(username=f"u-{uuid.uuid4().hex[:8]}")

    response = APIClient().post(
        "/api/tokens/",
        {"username": user.username, "password": PASSWORD, "name": "cron"},
        format="json",
        REMOTE_ADDR=_address(),
    )

    assert response.status_code == 201
    assert _client(response.json()["key"]).get("/api/orders/").status_code == 200
    assert ApiToken.objects.get().user == user


def test_wrong_passwords_for_a_token_are_401_then_locked_out_like_the_login_pages(settings):
    settings.AXES_FAILURE_LIMIT = 3
    user = UserFactory(username=f"u-{uuid.uuid4().hex[:8]}")
    address = _address()
    client = APIClient()

    def attempt(password):
        return client.post(
            "/api/tokens/",
            {"username": user.username, "password": password},
            format="json",
            REMOTE_ADDR=address,
        )

    wrong = [attempt("wrong") for _ in range(3)]
    locked = attempt(PASSWORD)

    assert [r.status_code for r in wrong] == [401, 401, 429]
    assert wrong[0].json()["detail"] == "Wrong user name or password."
    assert locked.status_code == 429  # the right password too, once locked
    assert int(locked["Retry-After"]) > 0
    assert "failed logins" in locked.json()["detail"]
    assert ApiToken.objects.count() == 0


def test_without_a_login_or_a_password_no_token_is_made():
    response = APIClient().post("/api/tokens/", {"name": "x"}, format="json")

    assert response.status_code in (401, 403)
    assert ApiToken.objects.count() == 0


def test_an_unknown_token_and_an_inactive_users_token_are_401():
    _, inactive_key = api_token_create(user=UserFactory(is_active=False))

    unknown = _client("0" * 40).get("/api/accounts/")
    inactive = _client(inactive_key).get("/api/accounts/")

    assert unknown.status_code == 401
    assert "Invalid token" in unknown.json()["detail"]
    assert inactive.status_code == 401
    assert "inactive" in inactive.json()["detail"]


def test_drf_tokens_become_api_tokens_that_keep_working_and_leave_no_plain_key():
    """The migration from rest_framework.authtoken (its table as DRF made it)."""
    import importlib
    from types import SimpleNamespace

    from django.apps import apps

    migration = importlib.import_module("accounts.migrations.0004_api_tokens")
    user = UserFactory()
    key = "a" * 8 + uuid.uuid4().hex
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY,"
            " created timestamp with time zone NOT NULL, user_id integer NOT NULL UNIQUE)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token VALUES (%s, %s, %s)", [key, timezone.now(), user.pk]
        )

    migration.convert_drf_tokens(apps, SimpleNamespace(connection=connection))

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        left = cursor.fetchone()[0]
        cursor.execute("DROP TABLE authtoken_token")
    token = ApiToken.objects.get()
    assert left == 0
    assert token.user == user
    assert token.prefix == "a" * 8
    assert token.expires_at > timezone.now() + timedelta(days=89)
    assert _client(key).get("/api/orders/").status_code == 200


def test_the_command_prints_a_working_key_and_nothing_else(capsys):
    user = UserFactory()

    call_command("api_token_create", user.username, "--name", "ops", "--days", "3")

    key = capsys.readouterr().out.strip()
    assert len(key) == 40
    assert _client(key).get("/api/orders/").status_code == 200
    assert ApiToken.objects.get().name == "ops"


class TestAdmin:
    @pytest.fixture
    def admin_client(self, client):
        client.force_login(UserFactory(is_staff=True, is_superuser=True))
        return client

    def test_the_admin_shows_a_prefix_never_the_key(self, admin_client):
        token, key = api_token_create(user=UserFactory(), name="bot")

        listing = admin_client.get("/admin/accounts/apitoken/").content.decode()
        page = admin_client.get(f"/admin/accounts/apitoken/{token.pk}/change/").content.decode()

        for html in (listing, page):
            assert f"{key[:8]}…" in html
            assert key not in html
            assert token.key_hash not in html

    def test_an_admin_makes_a_token_shown_once_and_revokes_it(self, admin_client):
        owner = UserFactory()

        made = admin_client.post(
            "/admin/accounts/apitoken/add/",
            {"user": owner.pk, "name": "desk", "days": 10},
            follow=True,
        )
        token = ApiToken.objects.get()
        shown = [str(m) for m in made.context["messages"]]
        key = next(word for m in shown for word in m.split() if len(word) == 40)
        again = admin_client.get(f"/admin/accounts/apitoken/{token.pk}/change/")
        works = _client(key).get("/api/orders/").status_code
        admin_client.post(
            "/admin/accounts/apitoken/",
            {"action": "revoke", "_selected_action": [token.pk]},
        )

        assert token.user == owner
        assert works == 200
        assert key not in again.content.decode()
        assert _client(key).get("/api/orders/").status_code == 401
        token.refresh_from_db()
        assert token.revoked_at is not None

    def test_the_token_list_reads_a_fixed_number_of_queries(
        self, admin_client, django_assert_max_num_queries
    ):
        for _ in range(5):
            token, _ = api_token_create(user=UserFactory())
        ApiToken.objects.filter(pk=token.pk).update(revoked_by=UserFactory())

        with django_assert_max_num_queries(8):
            assert admin_client.get("/admin/accounts/apitoken/").status_code == 200
