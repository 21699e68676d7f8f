from django.urls import path

from . import views

app_name = "counters"
urlpatterns = [
    path("", views.home, name="home"),
    path("sessions/", views.session_open, name="session_open"),
    path("sessions/<str:reception_no>/", views.session_detail, name="session"),
    path("sessions/<str:reception_no>/identify", views.session_identify, name="session_identify"),
    path("sessions/<str:reception_no>/form.pdf", views.session_form_pdf, name="session_form_pdf"),
    path("sessions/<str:reception_no>/finish", views.session_finish, name="session_finish"),
    path("sessions/<str:reception_no>/print-status", views.session_print_status, name="session_print_status"),
]
