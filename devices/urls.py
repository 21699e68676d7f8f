from django.urls import path

from . import api, views

app_name = "devices"
urlpatterns = [
    path("", views.status, name="status"),
    path("terminals/new", views.terminal_create, name="terminal_create"),
    path("terminals/<slug:code>/code", views.terminal_code_issue, name="terminal_code_issue"),
    path("terminals/<slug:code>/disable", views.terminal_disable, name="terminal_disable"),
    path("terminals/<slug:code>/enable", views.terminal_enable, name="terminal_enable"),
    path("api/register", api.register, name="register"),
    path("api/print-jobs/<int:job_id>/pdf", api.print_job_pdf, name="print_job_pdf"),
    path("api/print-jobs/<int:job_id>/receipt", api.print_job_receipt, name="print_job_receipt"),
    path("api/events", api.agent_event, name="agent_event"),
]
