"""The API schema and its Swagger UI: for logged-in users only, served from our own static
files - nothing from a CDN."""

import re

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_the_schema_and_docs_are_not_public(client, path):
    response = client.get(path)

    assert response.status_code in (401, 403)
    assert b"openapi" not in response.content.lower()


def test_the_docs_load_only_our_own_static_files(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("reader", password="x"))

    page = client.get("/api/docs/")
    schema = client.get("/api/schema/")

    assert page.status_code == 200
    assert schema.status_code == 200
    html = page.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui" in source for source in sources)
    for source in sources:
        assert source.startswith("/"), source  # same origin, no CDN
    assert "cdn.jsdelivr.net" not in html and "@latest" not in html
    bundle = next(source for source in sources if source.endswith("swagger-ui-bundle.js"))
    assert client.get(bundle).status_code == 200
