"""The API's root router: each app contributes its viewsets under /api/."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.api.urls import alert_urlpatterns, token_urlpatterns
from common.csp import csp_update
from marketdata.api.urls import candle_urlpatterns

# The Swagger UI under the site's Content-Security-Policy: its page script from the view
# itself (?script), not inline (the "split" view), and its stylesheet's icons as data:
# URLs.
api_docs = csp_update(img_src=["data:"])(
    SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html")
)

urlpatterns = [
    path("accounts/", include("accounts.api.urls")),
    path("alerts/", include(alert_urlpatterns)),
    path("marketdata/", include("marketdata.api.urls")),
    path("candles/", include(candle_urlpatterns)),
    path("tokens/", include(token_urlpatterns)),
    path("orders/", include("orders.api.urls")),
    path("", include("positions.api.urls")),
    path("", include("strategies.api.urls")),
    path("risk/", include("risk.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", api_docs, name="api-docs"),
]
