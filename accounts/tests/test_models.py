import pytest
from django.db import connection
from django.test import override_settings

from accounts.models import ExchangeAccount
from accounts.tests.factories import ExchangeAccountFactory
from common.fields import CredentialDecryptionError, SealedSecret, reveal

pytestmark = pytest.mark.django_db

KEY = "live-key-AAAABBBBCCCCDDDD"
SECRET = "live-secret-EEEEFFFFGGGGHHHH"


def raw_columns(pk):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_key, api_secret FROM accounts_exchangeaccount WHERE id = %s", [pk]
        )
        return cursor.fetchone()


def test_credentials_are_encrypted_at_rest():
    account = ExchangeAccountFactory(api_key=KEY, api_secret=SECRET)

    raw_key, raw_secret = raw_columns(account.pk)

    assert KEY not in raw_key and SECRET not in raw_secret
    assert raw_key.startswith("gAAAAA")  # a Fernet token


def test_credentials_read_back_sealed_and_reveal_only_on_request():
    account = ExchangeAccountFactory(api_key=KEY, api_secret=SECRET)

    loaded = ExchangeAccount.objects.get(pk=account.pk)

    assert isinstance(loaded.api_secret, SealedSecret)
    assert SECRET not in str(loaded.api_secret) and SECRET not in repr(loaded.api_secret)
    assert reveal(loaded.api_secret) == SECRET


def test_saving_an_account_keeps_its_sealed_credentials_unchanged():
    account = ExchangeAccountFactory(api_key=KEY, api_secret=SECRET)
    loaded = ExchangeAccount.objects.get(pk=account.pk)
    loaded.label = "renamed"

    loaded.save()

    assert reveal(ExchangeAccount.objects.get(pk=account.pk).api_key) == KEY


def test_keys_rotate_by_putting_the_new_key_first():
    account = ExchangeAccountFactory(api_key=KEY, api_secret=SECRET)
    from django.conf import settings

    old = settings.FIELD_ENCRYPTION_KEYS[0]
    new = "R3z0cVd0Zk5nV1lDdE9qQm5yS0xqZ0g2a3pQc3JfQ2s="
    with override_settings(FIELD_ENCRYPTION_KEYS=[new, old]):
        assert reveal(ExchangeAccount.objects.get(pk=account.pk).api_secret) == SECRET


def test_a_credential_no_key_opens_fails_closed():
    account = ExchangeAccountFactory(api_key=KEY, api_secret=SECRET)
    stranger = "R3z0cVd0Zk5nV1lDdE9qQm5yS0xqZ0g2a3pQc3JfQ2s="

    with override_settings(FIELD_ENCRYPTION_KEYS=[stranger]):
        loaded = ExchangeAccount.objects.get(pk=account.pk)
        with pytest.raises(CredentialDecryptionError, match="FIELD_ENCRYPTION_KEYS"):
            reveal(loaded.api_secret)
