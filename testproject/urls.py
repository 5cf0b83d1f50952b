from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from testproject import views

urlpatterns = [
    path("", views.home, name="home"),
    path("cart/", views.cart, name="cart"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/sessions/", include("dbsessions.urls")),
    path("admin/", admin.site.urls),
]
