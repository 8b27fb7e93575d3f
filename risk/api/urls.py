from django.urls import path
from rest_framework.routers import SimpleRouter

from risk.api.views import (
    BreakerResetView,
    KillSwitchView,
    RiskDecisionViewSet,
    RiskEventViewSet,
    RiskLimitViewSet,
    RiskStateView,
)

# Typed ids in the paths (<int:pk>), so the schema says so too.
router = SimpleRouter(use_regex_path=False)
router.register("limits", RiskLimitViewSet, basename="risk-limit")
router.register("decisions", RiskDecisionViewSet, basename="risk-decision")
router.register("events", RiskEventViewSet, basename="risk-event")

urlpatterns = [
    path("state/", RiskStateView.as_view(), name="risk-state"),
    path("kill-switch/", KillSwitchView.as_view(), name="kill-switch"),
    path("breakers/reset/", BreakerResetView.as_view(), name="breaker-reset"),
    *router.urls,
]
