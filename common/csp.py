"""Content-Security-Policy: what a page of ours may load and run.

Django 5.2 has no CSP support of its own (6.0 adds django.middleware.csp), and the
policy is one header built from one setting, so it is a few lines here rather than a
dependency. ``settings.CONTENT_SECURITY_POLICY`` maps each directive to its sources;
``ContentSecurityPolicyMiddleware`` (common.middleware) puts it on every answer that has
none of its own, and a view that needs more (the Swagger UI) widens it for itself with
``csp_update``. The dashboard's own pages need nothing inline: scripts and styles come
from static files, page data travels in a ``json_script`` data block (never executed).
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.core.exceptions import DisallowedHost

HEADER = "Content-Security-Policy"
# Replaced, in connect-src, by the same-origin websocket of the request (ws:// or wss://
# and the request's host). CSP Level 3 counts same-origin ws/wss as 'self' already;
# browsers from before it (Safari before 15.4) need it spelt out.
WEBSOCKET_SELF = "websocket-self"


def _websocket_origin(request) -> str | None:
    try:
        host = request.get_host()
    except DisallowedHost:
        return None
    return f"{'wss' if request.is_secure() else 'ws'}://{host}"


def policy(request, extra: dict[str, list[str]] | None = None) -> str:
    """The header's value for ``request``: the site's policy, plus ``extra`` sources per
    directive (a directive of ``extra`` the site's policy lacks is added)."""
    directives = {name: list(sources) for name, sources in settings.CONTENT_SECURITY_POLICY.items()}
    for name, sources in (extra or {}).items():
        current = directives.setdefault(name, [])
        if "'unsafe-inline'" in sources:
            # A browser that knows hashes ignores 'unsafe-inline' beside one.
            current[:] = [s for s in current if not s.startswith(("'sha256-", "'nonce-"))]
        current.extend(s for s in sources if s not in current)
    parts = []
    for name, sources in directives.items():
        values = []
        for source in sources:
            if source == WEBSOCKET_SELF:
                source = _websocket_origin(request)
                if source is None:
                    continue
            values.append(source)
        parts.append(" ".join([name, *values]))
    return "; ".join(parts)


def csp_update(**extra: list[str]):
    """Widen the policy for one view: ``csp_update(img_src=["data:"])(view)``.
    Directive names take ``_`` for ``-``."""
    extra_directives = {name.replace("_", "-"): sources for name, sources in extra.items()}

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            response = view(request, *args, **kwargs)
            response[HEADER] = policy(request, extra_directives)
            return response

        return wrapped

    return decorator
