from django.urls import path

from . import views

app_name = "counters"
urlpatterns = [
    path("", views.home, name="home"),
    path("desk/<slug:code>/", views.desk, name="desk"),
    path("desk/<slug:code>/next", views.desk_call_next, name="desk_call_next"),
    path("desk/<slug:code>/pairing-code", views.desk_pairing_code, name="desk_pairing_code"),
    path(
        "desk/<slug:code>/tablets/<int:tablet_id>/revoke", views.desk_tablet_revoke, name="desk_tablet_revoke"
    ),
    path("desk/<slug:code>/events", views.desk_events, name="desk_events"),
    path("tickets/", views.ticket_issue, name="ticket_issue"),
    path("sessions/", views.session_open, name="session_open"),
    path("sessions/<str:reception_no>/", views.session_detail, name="session"),
    path("sessions/<str:reception_no>/events", views.session_events, name="session_events"),
    path("sessions/<str:reception_no>/claim", views.session_claim, name="session_claim"),
    path("sessions/<str:reception_no>/release", views.session_release, name="session_release"),
    path("sessions/<str:reception_no>/handoff", views.session_handoff, name="session_handoff"),
    path("sessions/<str:reception_no>/identify", views.session_identify, name="session_identify"),
    path("sessions/<str:reception_no>/qr", views.session_qr, name="session_qr"),
    path("sessions/<str:reception_no>/card", views.session_card, name="session_card"),
    path("sessions/<str:reception_no>/interview", views.session_interview, name="session_interview"),
    path("sessions/<str:reception_no>/prepare", views.session_prepare, name="session_prepare"),
    path(
        "sessions/<str:reception_no>/forms/<slug:form_code>",
        views.session_form_save,
        name="session_form_save",
    ),
    path("sessions/<str:reception_no>/to-tablet", views.session_to_tablet, name="session_to_tablet"),
    path("sessions/<str:reception_no>/back", views.session_back, name="session_back"),
    path("sessions/<str:reception_no>/return", views.session_return, name="session_return"),
    path("sessions/<str:reception_no>/finish", views.session_finish, name="session_finish"),
    path("sessions/<str:reception_no>/reprint", views.session_reprint, name="session_reprint"),
    path("sessions/<str:reception_no>/forms.pdf", views.session_form_pdf, name="session_form_pdf"),
]
