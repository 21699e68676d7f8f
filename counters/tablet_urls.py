"""The resident tablet (R-C5), under /tablet/."""

from django.urls import path

from . import views_tablet

app_name = "tablet"
urlpatterns = [
    path("", views_tablet.index, name="index"),
    path("pair", views_tablet.pair, name="pair"),
    path("screen", views_tablet.screen, name="screen"),
    path("events", views_tablet.events, name="events"),
    path("language", views_tablet.language, name="language"),
    path("pin", views_tablet.card_pin, name="pin"),
    path("confirm", views_tablet.confirm, name="confirm"),
]
