"""HTTP middleware of the platform."""

from __future__ import annotations

from django.utils.cache import patch_cache_control

from common import csp


class PrivateNoStoreMiddleware:
    """``Cache-Control: private, no-store`` on every answer of the API and every page of a
    logged-in user: balances, orders and keys' last digits must not stay in a shared
    proxy or the browser's disk cache after logout. Answers that set their own
    Cache-Control (static files, /healthz) keep it. API requests are known by their path:
    a token is only read inside DRF's view, after this middleware's request phase."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.has_header("Cache-Control"):
            return response
        user = getattr(request, "user", None)
        if request.path.startswith("/api/") or (user is not None and user.is_authenticated):
            patch_cache_control(response, private=True, no_store=True)
        return response


class ContentSecurityPolicyMiddleware:
    """``Content-Security-Policy`` (settings.CONTENT_SECURITY_POLICY, common/csp.py) on
    every answer - pages, API, errors, static files - unless the view set its own (the
    Swagger UI widens it for itself). First in MIDDLEWARE, so answers that middleware
    further in makes on its own (WhiteNoise's static files, django-axes' lockout) carry it
    too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if csp.HEADER not in response:
            response[csp.HEADER] = csp.policy(request)
        return response
