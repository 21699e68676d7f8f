"""Server-side print jobs: redispatch from durable state, a bounded number of times, and purging PDFs; receipt
jobs for the receipt printer, sent, fetched and reported like A4 jobs."""

import datetime as dt
import re
import uuid
from collections.abc import Iterator

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from devices.models import PrintJob, PrintKind, PrintStatus, Terminal
from devices.services import print_jobs_purge, print_jobs_redispatch, receipt_job_create
from tests.factories import TerminalFactory

from .broker_messages import QueueMessages, task_kwargs
from .signed import signed_get, signed_post

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


def _heartbeat(terminal: Terminal, receipt_printer: str = "ok") -> None:
    response = signed_post(
        Client(),
        terminal,
        {
            "type": "heartbeat",
            "agent": {"version": "1", "started_at": "2026-12-07T09:00:00+09:00"},
            "devices": [
                {"kind": "receipt_printer", "driver": "escpos", "status": receipt_printer, "detail": ""}
            ],
        },
    )
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("why", ["terminal offline", "printer in error"])
def test_a_job_waiting_for_its_printer_is_neither_failed_nor_resent_and_prints_when_it_is_back(
    settings, django_capture_on_commit_callbacks, why: str
) -> None:
    settings.MADOGUCHI_PRINT_MAX_DISPATCHES = 3
    terminal = TerminalFactory.create()
    queue = QueueMessages(terminal.queue)
    try:
        _heartbeat(terminal, receipt_printer="error" if why == "printer in error" else "ok")
        if why == "terminal offline":
            Terminal.objects.filter(pk=terminal.pk).update(
                last_heartbeat_at=timezone.now() - dt.timedelta(hours=2)
            )
        job = PrintJob.objects.create(
            terminal=terminal,
            kind=PrintKind.RECEIPT,
            title="番号札",
            receipt={"title": "番号札", "lines": [], "qr": None, "cut": True},
            dispatch_count=1,
            dispatched_at=timezone.now() - dt.timedelta(hours=1),
        )
        for _ in range(10):  # ten beat rounds: the job neither fails nor piles up messages for the agent
            print_jobs_redispatch()
            PrintJob.objects.filter(pk=job.pk).update(dispatched_at=timezone.now() - dt.timedelta(hours=1))
        job.refresh_from_db()
        assert (job.status, job.dispatch_count) == (PrintStatus.QUEUED, 1)
        assert queue.new() == []

        with django_capture_on_commit_callbacks(execute=True):
            _heartbeat(terminal)  # back (the agent's heartbeat, or its printer reported ok again)
        [message] = queue.new()
        assert message["headers"]["task"] == "devices.agent.print_receipt"
        assert task_kwargs(message) == {"job_id": job.pk}
        job.refresh_from_db()
        assert (job.status, job.dispatch_count) == (PrintStatus.QUEUED, 1)  # the resend is not counted
    finally:
        queue.drop_new()


def test_a_job_that_waited_all_day_or_whose_terminal_is_disabled_fails_visibly(settings) -> None:
    settings.MADOGUCHI_PRINT_WAIT_HOURS = 8
    waiting, disabled = TerminalFactory.create(), TerminalFactory.create(enabled=False)
    long_ago = timezone.now() - dt.timedelta(hours=9)
    Terminal.objects.filter(pk=waiting.pk).update(last_heartbeat_at=long_ago)
    jobs = []
    for terminal in (waiting, disabled):
        job = PrintJob.objects.create(
            terminal=terminal,
            kind=PrintKind.RECEIPT,
            title="番号札",
            receipt={"lines": []},
            dispatch_count=1,
            dispatched_at=long_ago,
        )
        PrintJob.objects.filter(pk=job.pk).update(created_at=long_ago)
        jobs.append(job)
    print_jobs_redispatch()
    for job in jobs:
        job.refresh_from_db()
        assert job.status == PrintStatus.FAILED
    assert "8 時間使えない" in jobs[0].message and "無効" in jobs[1].message


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


# --- receipts ------------------------------------------------------------------------------------------------------

RECEIPT = {
    "title": "番号札",
    "lines": [{"text": "市民課", "size": "normal", "align": "center"}, {"text": "A-012", "size": "large"}],
    "qr": "MDG1-TICKET:A-012",
    "cut": True,
}


@pytest.fixture
def terminal_queue() -> Iterator[tuple[Terminal, QueueMessages]]:
    terminal = TerminalFactory.create()
    messages = QueueMessages(terminal.queue)
    yield terminal, messages
    messages.drop_new()


def test_a_receipt_job_is_stored_and_sent_to_the_terminals_agent_as_print_receipt(
    terminal_queue, django_capture_on_commit_callbacks
) -> None:
    terminal, messages = terminal_queue
    with django_capture_on_commit_callbacks(execute=True):
        job = receipt_job_create(terminal=terminal, title="番号札 A-012", receipt=RECEIPT, requested_by=None)
    job.refresh_from_db()
    assert job.kind == PrintKind.RECEIPT and job.status == PrintStatus.QUEUED and job.dispatch_count == 1
    assert job.receipt["lines"][1] == {
        "text": "A-012",
        "size": "large",
        "align": "left",
    }  # defaults filled in
    [message] = messages.new()
    assert message["headers"]["task"] == "devices.agent.print_receipt"
    assert task_kwargs(message) == {"job_id": job.pk}


def test_redispatch_sends_each_kind_of_job_its_own_task(terminal_queue) -> None:
    terminal, messages = terminal_queue
    receipt = PrintJob.objects.create(
        terminal=terminal, kind=PrintKind.RECEIPT, title="番号札", receipt=RECEIPT
    )
    a4 = PrintJob(terminal=terminal, title="住民異動届")
    a4.pdf.save("job.pdf", ContentFile(b"%PDF"), save=True)
    assert print_jobs_redispatch() == 2
    sent = {task_kwargs(message)["job_id"]: message["headers"]["task"] for message in messages.new()}
    assert sent == {receipt.pk: "devices.agent.print_receipt", a4.pk: "devices.agent.print_pdf"}


@pytest.mark.parametrize(
    ("receipt", "named"),
    [
        ({**RECEIPT, "lines": [{"text": "x", "size": "huge"}]}, "receipt lines[0].size"),
        ({**RECEIPT, "lines": [{"text": "x", "align": "justify"}]}, "receipt lines[0].align"),
        ({**RECEIPT, "lines": [{"size": "normal"}]}, "receipt lines[0].text"),
        ({**RECEIPT, "lines": "A-012"}, "receipt lines: expected a list"),
        ({**RECEIPT, "cut": "yes"}, "receipt cut"),
        ({**RECEIPT, "qr": 12}, "receipt qr"),
        ({**RECEIPT, "colour": "red"}, "unknown field(s) colour"),
    ],
)
def test_a_malformed_receipt_is_refused_naming_the_field_and_nothing_is_stored(receipt, named) -> None:
    terminal = TerminalFactory.create()
    with pytest.raises(ValueError, match=re.escape(named)):
        receipt_job_create(terminal=terminal, title="番号札", receipt=receipt, requested_by=None)
    assert not PrintJob.objects.exists()


def test_the_agent_fetches_its_receipt_and_reports_it_printed_once() -> None:
    terminal = TerminalFactory.create()
    job = PrintJob.objects.create(terminal=terminal, kind=PrintKind.RECEIPT, title="番号札", receipt=RECEIPT)
    path = reverse("devices:print_job_receipt", args=[job.pk])
    fetched = signed_get(Client(), terminal, path)
    assert fetched.status_code == 200 and fetched.json() == RECEIPT

    other = signed_get(Client(), TerminalFactory.create(), path)
    assert other.status_code == 403 and "does not belong to terminal" in other.json()["error"]
    a4 = _job()
    as_receipt = signed_get(Client(), a4.terminal, reverse("devices:print_job_receipt", args=[a4.pk]))
    assert as_receipt.status_code == 404 and "is not a 'receipt' job" in as_receipt.json()["error"]

    done = signed_post(Client(), terminal, {"type": "print.done", "job": job.pk, "id": uuid.uuid4().hex})
    assert done.status_code == 200 and done.json() == {"job": job.pk, "status": "printed"}
    assert signed_get(Client(), terminal, path).status_code == 410
    late = signed_post(Client(), terminal, {"type": "print.failed", "job": job.pk, "message": "paper out"})
    assert late.json()["status"] == "printed"


def test_a_failed_receipt_is_reported_with_the_printers_message() -> None:
    terminal = TerminalFactory.create()
    job = PrintJob.objects.create(terminal=terminal, kind=PrintKind.RECEIPT, title="番号札", receipt=RECEIPT)
    other = signed_post(Client(), TerminalFactory.create(), {"type": "print.failed", "job": job.pk})
    assert other.status_code == 403
    failed = signed_post(Client(), terminal, {"type": "print.failed", "job": job.pk, "message": "用紙切れ"})
    assert failed.json()["status"] == "failed"
    job.refresh_from_db()
    assert job.status == PrintStatus.FAILED and job.message == "用紙切れ"


def test_finished_receipts_are_emptied_after_the_retention_period(settings) -> None:
    settings.MADOGUCHI_PRINT_RETENTION_HOURS = 24
    terminal = TerminalFactory.create()
    old = PrintJob.objects.create(
        terminal=terminal,
        kind=PrintKind.RECEIPT,
        title="番号札",
        receipt=RECEIPT,
        status=PrintStatus.PRINTED,
        finished_at=timezone.now() - dt.timedelta(hours=25),
    )
    queued = PrintJob.objects.create(
        terminal=terminal, kind=PrintKind.RECEIPT, title="番号札", receipt=RECEIPT
    )
    assert print_jobs_purge() == 1
    old.refresh_from_db()
    queued.refresh_from_db()
    assert old.receipt == {} and queued.receipt == RECEIPT
