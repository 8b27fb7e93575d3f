"""DRF renderers of the platform."""

from __future__ import annotations

from rest_framework import renderers

from common import csp


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """DRF's browsable API (for logged-in users in a browser) under the site's policy
    with inline styles allowed: its template positions a few elements with ``style``
    attributes and highlights code with a ``<style>`` block. Scripts stay our own static
    files, as everywhere."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        content = super().render(data, accepted_media_type, renderer_context)
        renderer_context = renderer_context or {}
        response, request = renderer_context.get("response"), renderer_context.get("request")
        if response is not None and request is not None:
            response[csp.HEADER] = csp.policy(request, {"style-src": ["'unsafe-inline'"]})
        return content
