"""The Celery app of the server side (worker, beat). The counter-PC agent has its own app: devices.agent."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "madoguchi.settings")

app = Celery("madoguchi")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
