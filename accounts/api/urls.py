from rest_framework.routers import SimpleRouter

from accounts.api.views import AccountViewSet

router = SimpleRouter()
router.register("", AccountViewSet, basename="account")

urlpatterns = router.urls
