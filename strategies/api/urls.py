from django.urls import path
from rest_framework.routers import SimpleRouter

from strategies.api.views import SignalViewSet, StrategyViewSet, TradingViewWebhook

# Typed ids in the paths (<int:pk>), so the schema says so too.
router = SimpleRouter(use_regex_path=False)
router.register("signals", SignalViewSet, basename="signal")
router.register("strategies", StrategyViewSet, basename="strategy")

urlpatterns = [
    path(
        "webhooks/tradingview/<int:source_id>/",
        TradingViewWebhook.as_view(),
        name="tradingview-webhook",
    ),
    *router.urls,
]
