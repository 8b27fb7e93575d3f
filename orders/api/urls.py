from rest_framework.routers import SimpleRouter

from orders.api.views import OrderViewSet

# Typed ids in the paths (<int:pk>), so the schema says so too.
router = SimpleRouter(use_regex_path=False)
router.register("", OrderViewSet, basename="order")

urlpatterns = router.urls
