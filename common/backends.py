"""Password checks that a login flood cannot pile up.

A password check is deliberately slow: Django's PBKDF2 runs 1,000,000 iterations, about
0.7 s of CPU on this project's 2-core machine - for an unknown user name too (Django
hashes anyway, so timing tells nothing). django-axes locks a user name or an address
out after a few failures, but a flood from ever new addresses with ever new names is
never locked: each attempt would cost a check, and a handful at once hold every request
thread of the web process (WEB_THREADS, 4) and both cores. Measured: a few wrong logins
a second from rotating addresses took another user's order reads from p99 40 ms to
5.3 s (tests/test_abuse.py).

So a web process checks at most LOGIN_CONCURRENT_CHECKS passwords at once (1); a login
that finds them all busy is refused at once - 429 with Retry-After: 1 (LoginBusyMiddleware,
or the token endpoint's own answer) - instead of waiting on a request thread. Under such
a flood a real user may have to try again; the API, the dashboard and webhooks go on.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

_lock = threading.Lock()
_semaphores: dict[int, threading.BoundedSemaphore] = {}


def password_checks() -> threading.BoundedSemaphore:
    """The process's permits for password checks (one set per configured size)."""
    size = settings.LOGIN_CONCURRENT_CHECKS
    with _lock:
        semaphore = _semaphores.get(size)
        if semaphore is None:
            semaphore = _semaphores[size] = threading.BoundedSemaphore(size)
        return semaphore


class BoundedModelBackend(ModelBackend):
    """Django's ModelBackend, never more than LOGIN_CONCURRENT_CHECKS at once. A login
    refused for that flags its request (``login_busy``) and stops authentication (a
    PermissionDenied: Django reports it as a failed login, which django-axes counts)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        checks = password_checks()
        if not checks.acquire(blocking=False):
            if request is not None:
                request.login_busy = True
            raise PermissionDenied("Too many password checks at once.")
        try:
            return super().authenticate(request, username=username, password=password, **kwargs)
        finally:
            checks.release()
