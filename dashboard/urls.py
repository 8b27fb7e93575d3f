from django.contrib.auth import views as auth_views
from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("orders/", views.orders, name="orders"),
    path("orders/<int:pk>/", views.order_detail, name="order"),
    path("positions/", views.positions, name="positions"),
    path("accounts/", views.accounts, name="accounts"),
    path("signals/", views.signals, name="signals"),
    path("risk/", views.risk, name="risk"),
    path("market/", views.market, name="market"),
    path("login/", auth_views.LoginView.as_view(next_page="dashboard:overview"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="dashboard:login"), name="logout"),
]
