"""HTTP middleware of the platform."""

from __future__ import annotations

import time

from django.contrib import auth
from django.http import HttpResponse
from django.utils.cache import patch_cache_control

from common import csp, sessions


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


class SessionIdleTimeoutMiddleware:
    """Logs out a session idle past SESSION_IDLE_SECONDS (common/sessions.py), before the
    view runs - its sockets close too (realtime.receivers, on user_logged_out) - and
    stamps the activity of a logged-in user's request. Requests the dashboard makes by
    itself (sessions.BACKGROUND_HEADER) are checked, never counted as activity. After
    AuthenticationMiddleware; requests without a session (API tokens) pass untouched."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.background_meta = "HTTP_" + sessions.BACKGROUND_HEADER.upper().replace("-", "_")

    def __call__(self, request):
        now = time.time()
        session = request.session
        if auth.SESSION_KEY in session and sessions.is_idle(session, now):
            auth.logout(request)
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and auth.SESSION_KEY in request.session:
            if self.background_meta not in request.META or sessions.LAST_ACTIVITY not in session:
                sessions.note_activity(request.session, now)
        return response


class LoginBusyMiddleware:
    """A login refused because the process was already checking its share of passwords
    (common.backends.BoundedModelBackend) is a 429 with Retry-After, not the form's
    "wrong password": the password was never checked."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if getattr(request, "login_busy", False):
            response = HttpResponse(
                "Too many logins at once: try again in a moment.",
                status=429,
                content_type="text/plain; charset=utf-8",
            )
            response["Retry-After"] = "1"
        return response
