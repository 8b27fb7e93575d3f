"""The webhook against probing: an allowlist of real addresses and networks (no substring
matches), one answer for every refusal; and a signal source only on its owner's
accounts."""

import json

import pytest
from django.core.exceptions import ValidationError

from accounts.tests.factories import ExchangeAccountFactory, UserFactory
from strategies.models import Signal, SignalSource
from strategies.tests.test_signals import account, alert, post_alert, webhook  # noqa: F401

pytestmark = pytest.mark.django_db


def post_from(client, source, body, address):
    return client.post(
        f"/api/webhooks/tradingview/{source.pk}/",
        data=json.dumps(body),
        content_type="application/json",
        REMOTE_ADDR=address,
    )


@pytest.mark.parametrize(
    ("allowed", "address", "passes"),
    [
        (["127.0.0.10"], "127.0.0.1", False),  # a substring of an allowed address
        (["127.0.0.10"], "127.0.0.10", True),
        (["10.1.0.0/16"], "10.1.200.7", True),
        (["10.1.0.0/16"], "10.2.0.1", False),
        (["2001:db8::/32"], "2001:db8::1", True),
        (["52.89.214.238"], "::ffff:52.89.214.238", True),
    ],
)
def test_the_allowlist_compares_addresses_not_strings(client, webhook, allowed, address, passes):  # noqa: F811
    webhook.ip_allowlist_enabled = True
    webhook.allowed_ips = allowed
    webhook.full_clean()
    webhook.save()

    response = post_from(client, webhook, alert(webhook), address)

    assert (response.status_code == 202) is passes, response.content


def test_an_allowlist_stored_as_a_string_lets_nobody_in(client, webhook):  # noqa: F811
    SignalSource.objects.filter(pk=webhook.pk).update(
        ip_allowlist_enabled=True, allowed_ips="127.0.0.10"
    )

    response = post_from(client, webhook, alert(webhook), "127.0.0.1")

    assert response.status_code == 403
    assert Signal.objects.count() == 0


@pytest.mark.parametrize(
    "value", ["127.0.0.10", ["127.0.0.300"], ["not an address"], [5], {"ip": "1.2.3.4"}]
)
def test_an_allowlist_that_is_not_addresses_is_refused_on_save(webhook, value):  # noqa: F811
    webhook.allowed_ips = value

    with pytest.raises(ValidationError) as raised:
        webhook.full_clean()

    assert "allowed_ips" in raised.value.message_dict


def test_the_admin_form_normalises_and_validates_the_allowlist(admin_client, webhook):  # noqa: F811
    url = f"/admin/strategies/signalsource/{webhook.pk}/change/"
    page = admin_client.get(url)
    form = page.context["adminform"].form
    data = {
        name: ("" if value is None else value)
        for name, value in form.initial.items()
        if name in form.fields
    }
    data.update(
        owner=webhook.owner_id,
        account=webhook.account_id,
        account_group="",
        strategy="",
        sizing_params="{}",
        ip_allowlist_enabled="on",
    )

    refused = admin_client.post(url, {**data, "allowed_ips": '"127.0.0.10"'})
    saved = admin_client.post(url, {**data, "allowed_ips": '["10.1.2.3/16"]'})

    assert refused.status_code == 200
    assert "allowed_ips" in refused.context["adminform"].form.errors
    assert saved.status_code == 302, saved.context["adminform"].form.errors
    webhook.refresh_from_db()
    assert webhook.allowed_ips == ["10.1.0.0/16"]


def test_every_refusal_of_the_webhook_answers_alike(client, webhook):  # noqa: F811
    missing = post_alert(client, SignalSource(pk=webhook.pk + 1000), alert(webhook))
    wrong_secret = post_alert(client, webhook, alert(webhook, secret="wrong"))
    webhook.ip_allowlist_enabled = True
    webhook.allowed_ips = ["203.0.113.0/24"]
    webhook.save()
    off_the_list = post_from(client, webhook, alert(webhook), "198.51.100.1")

    answers = {(r.status_code, r.content) for r in (missing, wrong_secret, off_the_list)}
    assert len(answers) == 1, answers
    assert answers.pop()[0] == 403
    assert Signal.objects.count() == 0


def test_a_signal_source_names_only_its_owners_account_and_group():
    from accounts.models import AccountGroup

    owner, stranger = UserFactory(), UserFactory()
    source = SignalSource(
        owner=owner,
        name="tv",
        kind="webhook",
        account=ExchangeAccountFactory(owner=stranger),
        account_group=AccountGroup.objects.create(owner=stranger, name="theirs"),
    )

    with pytest.raises(ValidationError) as raised:
        source.full_clean()

    assert set(raised.value.message_dict) >= {"account", "account_group"}
