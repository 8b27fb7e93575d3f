from django.urls import path
from rest_framework.routers import SimpleRouter

from positions.api.views import (
    BalanceViewSet,
    DriftViewSet,
    PerformanceView,
    PortfolioView,
    PositionViewSet,
)

router = SimpleRouter()
router.register("positions", PositionViewSet, basename="position")
router.register("balances", BalanceViewSet, basename="balance")
router.register("drift", DriftViewSet, basename="drift")

urlpatterns = [
    path("portfolio/", PortfolioView.as_view(), name="portfolio"),
    path("performance/", PerformanceView.as_view(), name="performance"),
    *router.urls,
]
