from django.urls import path
from rest_framework.routers import SimpleRouter

from marketdata.api.views import BookView, CandleViewSet, SubscriptionViewSet, TickerView

router = SimpleRouter(use_regex_path=False)
router.register("subscriptions", SubscriptionViewSet, basename="subscription")

urlpatterns = [
    *router.urls,
    path("ticker/", TickerView.as_view(), name="marketdata-ticker"),
    path("book/", BookView.as_view(), name="marketdata-book"),
]

candles_router = SimpleRouter(use_regex_path=False)
candles_router.register("", CandleViewSet, basename="candle")
candle_urlpatterns = candles_router.urls
