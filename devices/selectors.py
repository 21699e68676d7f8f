"""Reads of the devices app."""

from __future__ import annotations

from .models import PrintJob, Terminal


def terminal_get(*, code: str) -> Terminal | None:
    return Terminal.objects.filter(code=code).first()


def print_job_get(*, job_id: int) -> PrintJob | None:
    return PrintJob.objects.select_related("terminal").filter(pk=job_id).first()
