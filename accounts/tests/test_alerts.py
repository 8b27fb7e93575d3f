import pytest

from accounts import services
from accounts.models import Alert
from accounts.tests.factories import ExchangeAccountFactory

pytestmark = pytest.mark.django_db


def test_a_repeated_alert_counts_on_the_open_one_instead_of_adding_rows(account):
    first = services.alert_raise(
        account=account, kind="position.unprotected", subject="BTC/USDT", message="no stop"
    )
    again = services.alert_raise(
        account=account, kind="position.unprotected", subject="BTC/USDT", message="still no stop"
    )

    assert again.pk == first.pk
    assert Alert.objects.count() == 1
    assert (again.occurrences, again.message) == (2, "still no stop")


def test_the_same_problem_after_an_acknowledgement_opens_a_new_alert(account, user):
    first = services.alert_raise(account=account, kind="sync.failing", message="polling fails")
    services.alert_acknowledge(alert=first, user=user)

    second = services.alert_raise(account=account, kind="sync.failing", message="polling fails")

    assert second.pk != first.pk and second.is_open
    assert Alert.objects.filter(acknowledged_at__isnull=False).count() == 1


def test_an_alert_is_pushed_to_the_account_only_after_commit(
    account, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        services.alert_raise(account=account, kind="order.lost", message="gone")

    assert len(callbacks) == 1


def test_the_api_lists_only_the_users_alerts_and_acknowledges_them(api, account, other_user):
    mine = services.alert_raise(account=account, kind="order.lost", message="gone")
    services.alert_raise(
        account=ExchangeAccountFactory(owner=other_user), kind="order.lost", message="theirs"
    )

    listed = api.get("/api/alerts/").json()
    assert [row["id"] for row in listed["results"]] == [mine.pk]

    answer = api.post(f"/api/alerts/{mine.pk}/acknowledge/")
    assert answer.status_code == 200
    assert answer.json()["acknowledged_at"] is not None
    assert api.post(f"/api/alerts/{mine.pk + 1000}/acknowledge/").status_code == 404
