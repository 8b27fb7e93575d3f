"""The API's root router: each app contributes its viewsets under /api/."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.api.urls import alert_urlpatterns
from marketdata.api.urls import candle_urlpatterns

urlpatterns = [
    path("accounts/", include("accounts.api.urls")),
    path("alerts/", include(alert_urlpatterns)),
    path("marketdata/", include("marketdata.api.urls")),
    path("candles/", include(candle_urlpatterns)),
    path("orders/", include("orders.api.urls")),
    path("", include("positions.api.urls")),
    path("", include("strategies.api.urls")),
    path("risk/", include("risk.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
