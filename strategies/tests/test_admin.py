"""The admin's "New webhook secret" action shows the secret once, and never puts it in a
cookie (a messages cookie is signed, not encrypted)."""

from decimal import Decimal

import pytest
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest

from accounts.tests.factories import UserFactory
from strategies import services
from strategies.models import SignalSource

pytestmark = pytest.mark.django_db


def test_a_new_webhook_secret_is_shown_once_and_never_set_in_a_cookie(admin_client, monkeypatch):
    source = SignalSource.objects.create(
        owner=UserFactory(), name="tv", kind="webhook", sizing_value=Decimal("100")
    )
    made = []
    original = services.source_set_secret

    def remember(**kwargs):
        made.append(original(**kwargs))
        return made[-1]

    monkeypatch.setattr(services, "source_set_secret", remember)

    acted = admin_client.post(
        "/admin/strategies/signalsource/",
        {"action": "new_secret", "_selected_action": [source.pk]},
    )
    shown = admin_client.get(acted["Location"])
    again = admin_client.get(acted["Location"])

    [secret] = made
    for response in (acted, shown, again):
        for cookie in response.cookies.values():
            assert secret not in cookie.OutputString()
            # A messages cookie is signed and may be compressed: read it as Django would.
            decoded = CookieStorage(HttpRequest())._decode(cookie.value)
            assert secret not in str(decoded)
    assert secret in shown.content.decode()
    assert secret not in again.content.decode()
