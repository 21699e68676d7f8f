"""Writes of the counters app: a counter session from reception to finish (the walking skeleton)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from devices.models import PrintJob
from devices.services import print_job_create
from forms_engine.models import FormVersion
from forms_engine.rendering import RenderSource, render_csv_row, render_packet_pdf
from forms_engine.selectors import form_version_current, render_source
from forms_engine.services import form_fill
from integrations import selectors as mirror
from integrations.models import Resident
from integrations.services import enqueue_export
from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record
from madoguchi.moji.csvsafe import UnsafeCsvValue

from .models import Counter, CounterSession, SessionState
from .selectors import form_context

JUMINIDO = "juminido"


class SessionError(Exception):
    """A session operation that is not allowed in the session's state; the message says why."""


def counter_session_open(*, counter: Counter, clerk: Any) -> CounterSession:
    """Open a session (受付) with the next reception number of the day at this counter."""
    today = timezone.localdate()
    with transaction.atomic():
        # Lock the counter row so two clerks opening at once get different numbers.
        Counter.objects.select_for_update().get(pk=counter.pk)
        prefix = f"{today:%Y%m%d}-{counter.code}-"
        count = CounterSession.objects.filter(reception_no__startswith=prefix).count()
        return CounterSession.objects.create(
            counter=counter, clerk=clerk, reception_no=f"{prefix}{count + 1:04d}"
        )


def _current_version(code: str) -> FormVersion:
    try:
        return form_version_current(code=code)
    except FormVersion.DoesNotExist:
        raise SessionError(f"form {code}: no version is published and in effect today") from None


def _resident_for(session: CounterSession) -> Resident:
    resident = mirror.resident_get(atena_no=session.atena_no)
    if resident is None:
        raise SessionError(f"{session.reception_no}: no resident is identified")
    return resident


def counter_session_identify(*, session: CounterSession, atena_no: str, actor: Any) -> Resident:
    """Record who the visitor is (本人確認). The clerk screen that then shows the person audits that view."""
    if session.state == SessionState.FINISHED:
        raise SessionError(f"{session.reception_no} is already finished")
    resident = mirror.resident_get(atena_no=atena_no)
    if resident is None:
        raise SessionError(f"宛名番号 {atena_no} is not in the resident data")
    session.atena_no = resident.atena_no
    session.state = SessionState.IDENTIFIED
    session.identified_at = timezone.now()
    session.save(update_fields=["atena_no", "state", "identified_at"])
    return resident


def _prefilled(
    session: CounterSession, resident: Resident, version: FormVersion
) -> tuple[RenderSource, dict[str, Any]]:
    source = render_source(version=version)
    context = form_context(resident=resident, reception_no=session.reception_no, counter=session.counter)
    return source, form_fill(spec=source.spec, context=context)


def counter_session_form_pdf(*, session: CounterSession, actor: Any, code: str = JUMINIDO) -> bytes:
    """The prefilled form as a PDF, for viewing in the browser; audited as a view of the resident's data."""
    resident = _resident_for(session)
    version = _current_version(code)
    pdf = render_packet_pdf([_prefilled(session, resident, version)], reception_no=session.reception_no)
    audit_record(
        actor=actor,
        action=AuditAction.VIEW,
        target_type="resident",
        target_ref=resident.atena_no,
        detail={"reception_no": session.reception_no, "form": code, "version": version.number},
    )
    return pdf


def counter_session_finish(*, session: CounterSession, actor: Any, code: str = JUMINIDO) -> PrintJob:
    """Finish the visit: print the form on the counter's terminal and put its CSV row in the outbox,
    in one transaction. Finishing twice is refused."""
    if session.state != SessionState.IDENTIFIED:
        raise SessionError(
            f"{session.reception_no} cannot be finished in state {session.get_state_display()}"
        )
    terminal = session.counter.terminal
    if terminal is None:
        raise SessionError(f"counter {session.counter.code} has no terminal to print on")
    resident = _resident_for(session)
    version = _current_version(code)
    source, context = _prefilled(session, resident, version)
    pdf = render_packet_pdf([(source, context)], reception_no=session.reception_no)
    header, row = render_csv_row(source, context)
    with transaction.atomic():
        locked = CounterSession.objects.select_for_update().get(pk=session.pk)
        if locked.state != SessionState.IDENTIFIED:
            raise SessionError(f"{session.reception_no} is already finished")
        try:
            enqueue_export(kind=code, reception_no=session.reception_no, header=header, row=row)
        except UnsafeCsvValue as unsafe:
            raise SessionError(f"{session.reception_no}: {unsafe}") from unsafe
        job = print_job_create(
            terminal=terminal,
            title=f"{version.template.name} {session.reception_no}",
            pdf=pdf,
            requested_by=actor,
        )
        locked.state = SessionState.FINISHED
        locked.finished_at = timezone.now()
        locked.form_code, locked.form_version, locked.print_job = code, version.number, job
        locked.save(update_fields=["state", "finished_at", "form_code", "form_version", "print_job"])
        audit_record(
            actor=actor,
            action=AuditAction.PRINT,
            target_type="resident",
            target_ref=resident.atena_no,
            detail={"reception_no": session.reception_no, "form": code, "print_job": job.pk},
        )
    session.refresh_from_db()
    return job
