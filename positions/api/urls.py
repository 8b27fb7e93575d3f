from django.urls import path
from rest_framework.routers import SimpleRouter

from positions.api.views import (
    BalanceViewSet,
    ChartView,
    DriftViewSet,
    EquityView,
    PerformanceView,
    PortfolioView,
    PositionViewSet,
)

# Typed ids in the paths (<int:pk>), so the schema says so too.
router = SimpleRouter(use_regex_path=False)
router.register("positions", PositionViewSet, basename="position")
router.register("balances", BalanceViewSet, basename="balance")
router.register("drift", DriftViewSet, basename="drift")

urlpatterns = [
    path("portfolio/", PortfolioView.as_view(), name="portfolio"),
    path("performance/", PerformanceView.as_view(), name="performance"),
    path("chart/", ChartView.as_view(), name="chart"),
    path("equity/", EquityView.as_view(), name="equity"),
    *router.urls,
]
