"""Server-side print jobs: redispatch from durable state, a bounded number of times, and purging PDFs."""

import datetime as dt

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from devices.models import PrintJob, PrintStatus
from devices.services import print_jobs_purge, print_jobs_redispatch
from tests.factories import TerminalFactory

pytestmark = pytest.mark.django_db


def _job(**fields) -> PrintJob:
    job = PrintJob(terminal=TerminalFactory.create(), title="住民異動届", **fields)
    job.pdf.save("job.pdf", ContentFile(b"%PDF"), save=True)
    return job


def test_a_job_never_sent_is_sent_by_the_scheduled_redispatch() -> None:
    job = _job()
    assert print_jobs_redispatch() == 1
    job.refresh_from_db()
    assert job.dispatch_count == 1 and job.dispatched_at is not None
    assert print_jobs_redispatch() == 0  # sent just now: not again until the interval has passed


def test_a_job_its_agent_never_confirms_fails_visibly(settings) -> None:
    settings.MADOGUCHI_PRINT_MAX_DISPATCHES = 3
    job = _job(dispatch_count=3, dispatched_at=timezone.now() - dt.timedelta(hours=1))
    print_jobs_redispatch()
    job.refresh_from_db()
    assert job.status == PrintStatus.FAILED
    assert job.terminal.code in job.message


def test_finished_jobs_lose_their_pdf_after_the_retention_period(settings) -> None:
    settings.MADOGUCHI_PRINT_RETENTION_HOURS = 24
    old = _job(status=PrintStatus.PRINTED, finished_at=timezone.now() - dt.timedelta(hours=25))
    recent = _job(status=PrintStatus.PRINTED, finished_at=timezone.now() - dt.timedelta(hours=1))
    old_path = old.pdf.path
    assert print_jobs_purge() == 1
    old.refresh_from_db()
    assert not old.pdf and not __import__("os").path.exists(old_path)
    recent.refresh_from_db()
    assert recent.pdf
