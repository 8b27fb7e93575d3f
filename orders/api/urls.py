from rest_framework.routers import SimpleRouter

from orders.api.views import FillViewSet, OrderViewSet

# Typed ids in the paths (<int:pk>), so the schema says so too.
router = SimpleRouter(use_regex_path=False)
router.register("fills", FillViewSet, basename="fill")
router.register("", OrderViewSet, basename="order")

urlpatterns = router.urls
