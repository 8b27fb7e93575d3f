from rest_framework.routers import SimpleRouter

from accounts.api.views import AccountViewSet, AlertViewSet, TokenViewSet

# Typed ids in the paths (<int:pk>), so the schema says so too.
router = SimpleRouter(use_regex_path=False)
router.register("", AccountViewSet, basename="account")

urlpatterns = router.urls

# /api/alerts/: what a person must look at, across the user's accounts.
alerts_router = SimpleRouter(use_regex_path=False)
alerts_router.register("", AlertViewSet, basename="alert")
alert_urlpatterns = alerts_router.urls

# /api/tokens/: the user's API tokens.
tokens_router = SimpleRouter(use_regex_path=False)
tokens_router.register("", TokenViewSet, basename="token")
token_urlpatterns = tokens_router.urls
