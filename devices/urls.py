from django.urls import path

from . import api

app_name = "devices"
urlpatterns = [
    path("api/print-jobs/<int:job_id>/pdf", api.print_job_pdf, name="print_job_pdf"),
    path("api/events", api.agent_event, name="agent_event"),
]
