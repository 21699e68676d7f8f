from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="accounts/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("card-pin/", views.card_pin, name="card_pin"),
    path("one-time-code/", views.otp_verify, name="otp_verify"),
    path("one-time-code/setup/", views.otp_setup, name="otp_setup"),
    path("card-login/", views.card_login, name="card_login"),
    path("card-login/bind/", views.card_login_bind, name="card_login_bind"),
    path("card-login/events/", views.card_login_events, name="card_login_events"),
    path("card-login/pin/", views.card_login_pin, name="card_login_pin"),
]
