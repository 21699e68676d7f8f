from django.urls import path

from . import views_staff

app_name = "staff"
urlpatterns = [
    path("", views_staff.index, name="index"),
    path("<int:pk>/", views_staff.update, name="update"),
    path("<int:pk>/confirm", views_staff.confirm, name="confirm"),
    path("<int:pk>/cancel", views_staff.cancel, name="cancel"),
]
