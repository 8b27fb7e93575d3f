from rest_framework.routers import SimpleRouter

from accounts.api.views import AccountViewSet

# Typed ids in the paths (<int:pk>), so the schema says so too.
router = SimpleRouter(use_regex_path=False)
router.register("", AccountViewSet, basename="account")

urlpatterns = router.urls
