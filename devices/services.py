"""Writes of the devices app: print jobs and the events agents report."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from madoguchi.celery import app as celery_app

from . import signing
from .events import print_job_changed
from .models import PrintJob, PrintStatus, Terminal

logger = logging.getLogger(__name__)
PRINT_TASK = "devices.agent.print_pdf"


def print_job_create(*, terminal: Terminal, title: str, pdf: bytes, requested_by: Any) -> PrintJob:
    """Store the PDF and send the job to the terminal's agent once the transaction commits."""
    job = PrintJob(terminal=terminal, title=title, requested_by=requested_by)
    job.pdf.save(f"{terminal.code}-{timezone.now():%H%M%S%f}.pdf", ContentFile(pdf), save=False)
    job.save()
    transaction.on_commit(lambda: print_job_dispatch(job=job))
    return job


def print_job_dispatch(*, job: PrintJob) -> None:
    """Nudge the agent. If the broker is down the job stays queued and print_jobs_redispatch sends it later."""
    try:
        celery_app.send_task(PRINT_TASK, kwargs={"job_id": job.pk}, queue=job.terminal.queue)
    except Exception:
        logger.warning("print job %s: broker unreachable, will redispatch", job.pk)
        return
    PrintJob.objects.filter(pk=job.pk).update(
        dispatched_at=timezone.now(), dispatch_count=job.dispatch_count + 1
    )


def print_jobs_redispatch() -> int:
    """Send again every job still queued and not dispatched within MADOGUCHI_PRINT_REDISPATCH_SECONDS; fail a
    job whose agent has not confirmed it after MADOGUCHI_PRINT_MAX_DISPATCHES sends, so the clerk sees it."""
    cutoff = timezone.now() - dt.timedelta(seconds=settings.MADOGUCHI_PRINT_REDISPATCH_SECONDS)
    stale = PrintJob.objects.select_related("terminal").filter(
        Q(dispatched_at=None) | Q(dispatched_at__lt=cutoff), status=PrintStatus.QUEUED
    )
    for job in stale:
        if job.dispatch_count >= settings.MADOGUCHI_PRINT_MAX_DISPATCHES:
            print_job_fail(job=job, message=f"端末 {job.terminal.code} から印刷の確認がありません")
        else:
            print_job_dispatch(job=job)
    return len(stale)


def print_job_fail(*, job: PrintJob, message: str) -> None:
    """Mark a still-queued job failed with a message the clerk screen shows."""
    changed = PrintJob.objects.filter(pk=job.pk, status=PrintStatus.QUEUED).update(
        status=PrintStatus.FAILED, message=message[:300], finished_at=timezone.now()
    )
    if changed:
        job.refresh_from_db()
        print_job_changed(job)


def print_jobs_purge() -> int:
    """Delete the PDFs (personal data) of jobs finished more than MADOGUCHI_PRINT_RETENTION_HOURS ago."""
    cutoff = timezone.now() - dt.timedelta(hours=settings.MADOGUCHI_PRINT_RETENTION_HOURS)
    purged = 0
    for job in PrintJob.objects.filter(finished_at__lt=cutoff).exclude(pdf=""):
        job.pdf.delete(save=False)
        PrintJob.objects.filter(pk=job.pk).update(pdf="")
        purged += 1
    return purged


class EventRefused(Exception):
    """An agent event that is not accepted (unknown terminal, bad signature, another terminal's job)."""


def terminal_authenticate(*, headers: Any, method: str, path: str, body: bytes) -> Terminal:
    """The terminal whose secret signed this request; EventRefused otherwise."""
    code = headers.get(signing.HEADER_TERMINAL, "")
    terminal = Terminal.objects.filter(code=code).first()
    if terminal is None or not signing.verify(
        terminal.secret,
        timestamp=headers.get(signing.HEADER_TIMESTAMP, ""),
        given=headers.get(signing.HEADER_SIGNATURE, ""),
        method=method,
        path=path,
        body=body,
    ):
        raise EventRefused("unknown terminal or bad signature")
    Terminal.objects.filter(pk=terminal.pk).update(last_seen_at=timezone.now())
    return terminal


def print_job_for_terminal(*, terminal: Terminal, job_id: int) -> PrintJob:
    job = PrintJob.objects.filter(pk=job_id, terminal=terminal).first()
    if job is None:
        raise EventRefused(f"print job {job_id} does not belong to terminal {terminal.code}")
    return job


def print_job_report(*, terminal: Terminal, job_id: int, ok: bool, message: str = "") -> PrintJob:
    """Record the agent's report on a job. Reporting the same outcome twice changes nothing."""
    job = print_job_for_terminal(terminal=terminal, job_id=job_id)
    if job.status == PrintStatus.QUEUED:
        job.status = PrintStatus.PRINTED if ok else PrintStatus.FAILED
        job.message = message[:300]
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "message", "finished_at"])
        print_job_changed(job)
    return job


CARD_TASK = "devices.agent.read_card"
CARD_COMMAND_SECONDS = 60
CARD_KINDS = ("mynumber",)


class CommandUnavailable(Exception):
    """The command could not be sent to the terminal's agent (broker unreachable); the message says so."""


def card_read_request(*, terminal: Terminal, request_id: str, kind: str, pin: str) -> None:
    """Ask the terminal's agent to read the card in its reader with ``pin``.

    The PIN travels only inside this one broker message: it is never stored, never logged, and hidden from
    Celery's task representation (``kwargsrepr``) that monitors and logs show. The message expires after a
    minute, so a PIN is never used long after it was typed; nothing retries it: the resident types it again.
    """
    if kind not in CARD_KINDS:
        raise ValueError(f"unknown card kind {kind!r}")
    try:
        celery_app.send_task(
            CARD_TASK,
            kwargs={"request_id": request_id, "kind": kind, "pin": pin},
            kwargsrepr=repr({"request_id": request_id, "kind": kind, "pin": "****"}),
            queue=terminal.queue,
            expires=CARD_COMMAND_SECONDS,
        )
    except Exception as exc:
        logger.warning("card read for terminal %s: broker unreachable", terminal.code)
        raise CommandUnavailable(f"端末 {terminal.code} に読み取りを依頼できません（通信エラー）") from exc
