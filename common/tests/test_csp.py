"""Content-Security-Policy on every answer: pages, the API, errors; nothing inline needed.
(tests/browser/test_csp.py checks that a real browser refuses nothing under it.)"""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    parsed = {}
    for part in header.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


def assert_strict(response) -> None:
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in policy["style-src"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)(?![^>]*type=\"application/json\")[^>]*>")
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.IGNORECASE)


@pytest.mark.parametrize(
    "path", ["/", "/orders/", "/positions/", "/accounts/", "/signals/", "/risk/"]
)
def test_dashboard_pages_carry_the_policy_and_need_nothing_inline(client, path):
    client.force_login(UserFactory())

    response = client.get(path)

    assert response.status_code == 200
    assert_strict(response)
    # The websocket of this origin, as the page is served (ws:// here, wss:// on https).
    assert "ws://testserver" in directives(response)["connect-src"]
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html)
    assert not INLINE_HANDLER.search(html)
    assert not STYLE_ATTRIBUTE.search(html)


def test_over_https_the_socket_allowed_is_wss(client):
    client.force_login(UserFactory())

    response = client.get("/", secure=True)

    assert "wss://testserver" in directives(response)["connect-src"]
    assert "ws://testserver" not in directives(response)["connect-src"]


def test_the_login_page_errors_and_the_admin_carry_the_policy(client):
    for path, status in [("/login/", 200), ("/admin/login/", 200), ("/no-such-page/", 404)]:
        response = client.get(path)
        assert response.status_code == status, path
        assert_strict(response)


def test_api_answers_carry_the_policy_refusals_included():
    anonymous = APIClient()
    client = APIClient()
    client.force_login(UserFactory())

    assert_strict(client.get("/api/orders/", HTTP_ACCEPT="application/json"))
    assert_strict(anonymous.get("/api/orders/"))
    assert anonymous.get("/api/orders/").status_code == 401


def test_the_swagger_ui_alone_may_show_data_images_and_runs_no_inline_script(client):
    client.force_login(UserFactory())

    page = client.get("/api/docs/")
    script = client.get("/api/docs/?script=")

    assert page.status_code == 200
    policy = directives(page)
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["script-src"] == ["'self'"]
    html = page.content.decode()
    assert not INLINE_SCRIPT.search(html)
    assert "<style" not in html
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()
    assert directives(client.get("/"))["img-src"] == ["'self'"]  # only the docs widen it
