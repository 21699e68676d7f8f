"""The 手続ナビ editor, included at ``counters/navigation/`` (namespace ``navigation``)."""

from django.urls import path

from . import views_navigation as views

app_name = "navigation"
urlpatterns = [
    path("", views.index, name="index"),
    path("try/", views.trial, name="trial"),
    path("events/new/", views.event_create, name="event_create"),
    path("events/<slug:code>/", views.event_edit, name="event_edit"),
    path("events/<slug:code>/delete/", views.event_delete, name="event_delete"),
    path("questions/new/", views.question_create, name="question_create"),
    path("questions/<slug:code>/", views.question_edit, name="question_edit"),
    path("questions/<slug:code>/delete/", views.question_delete, name="question_delete"),
    path("procedures/new/", views.procedure_create, name="procedure_create"),
    path("procedures/<slug:code>/", views.procedure_edit, name="procedure_edit"),
    path("procedures/<slug:code>/delete/", views.procedure_delete, name="procedure_delete"),
    path("rules/new/", views.rule_create, name="rule_create"),
    path("rules/<int:pk>/", views.rule_edit, name="rule_edit"),
    path("rules/<int:pk>/delete/", views.rule_delete, name="rule_delete"),
]
