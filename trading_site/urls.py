from django.contrib import admin
from django.urls import include, path

from common.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/", include("trading_site.api")),
    path("", include("dashboard.urls")),
]

# Under /api/, a path no route matches answers JSON like the API's other errors.
handler404 = "common.api.not_found"
