"""Writes of the devices app: terminals and their registration, heartbeats, print jobs, and the events agents
report."""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record
from madoguchi.celery import app as celery_app

from . import signing
from .events import print_job_changed
from .models import (
    AgentEvent,
    Device,
    DeviceKind,
    DeviceStatus,
    PrintJob,
    PrintKind,
    PrintStatus,
    Terminal,
    TerminalNonce,
)
from .receipt_format import receipt_validate

logger = logging.getLogger(__name__)
PRINT_TASK = "devices.agent.print_pdf"
RECEIPT_TASK = "devices.agent.print_receipt"
DISPATCH_TASKS = {PrintKind.A4: PRINT_TASK, PrintKind.RECEIPT: RECEIPT_TASK}


# --- terminals: creation and registration -----------------------------------------------------------------------

REGISTRATION_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud and typed without doubt
REGISTRATION_CODE_LENGTH = 12
REGISTRATION_CODE_HOURS = 24
REGISTRATION_MAX_FAILURES = 5
TERMINAL_CODE = re.compile(r"[A-Za-z0-9_-]{1,32}")


class TerminalInvalid(ValueError):
    """A terminal cannot be created as asked; the message says why, in the administrator's language."""


class RegistrationRefused(Exception):
    """An agent's registration is refused (unknown or disabled terminal, no valid code); the message says why."""


def _registration_hash(terminal: Terminal, code: str) -> str:
    # Keyed with the SECRET_KEY: a copy of the database alone does not let anyone try codes offline.
    return salted_hmac(
        "devices.terminal_registration", f"{terminal.pk}:{code}", algorithm="sha256"
    ).hexdigest()


def registration_code_normalise(code: str) -> str:
    """The code as typed, without the grouping hyphens and spaces, in capitals."""
    return re.sub(r"[\s-]", "", code).upper()


def _audit(terminal: Terminal, actor: Any, kind: str) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.ADMIN,
        target_type="terminal",
        target_ref=terminal.code,
        detail={"kind": kind},
    )


def terminal_create(*, code: str, name: str, location: str, actor: Any) -> tuple[Terminal, str]:
    """A new terminal and its first one-time registration code (shown once, to the administrator)."""
    code, name, location = code.strip(), name.strip(), location.strip()
    if not TERMINAL_CODE.fullmatch(code):
        raise TerminalInvalid(
            _("端末コード「%(code)s」は英数字・ハイフン・下線の32文字以内で入力してください") % {"code": code}
        )
    if not name or len(name) > 100:
        raise TerminalInvalid(_("名称は1〜100文字で入力してください"))
    if len(location) > 100:
        raise TerminalInvalid(_("設置場所は100文字以内で入力してください"))
    with transaction.atomic():
        if Terminal.objects.filter(code__iexact=code).exists():
            raise TerminalInvalid(_("端末コード「%(code)s」は既に使われています") % {"code": code})
        terminal = Terminal.objects.create(code=code, name=name, location=location)
        _audit(terminal, actor, "created")
        one_time = terminal_code_issue(terminal=terminal, actor=actor)
    return terminal, one_time


def terminal_code_issue(*, terminal: Terminal, actor: Any) -> str:
    """A new one-time registration code for ``terminal``, valid REGISTRATION_CODE_HOURS. Only its hash is kept;
    any earlier code is void. Registering with it gives the agent a new secret (a replaced PC)."""
    code = "".join(secrets.choice(REGISTRATION_ALPHABET) for _ in range(REGISTRATION_CODE_LENGTH))
    terminal.registration_code_hash = _registration_hash(terminal, code)
    terminal.registration_expires_at = timezone.now() + dt.timedelta(hours=REGISTRATION_CODE_HOURS)
    terminal.registration_failures = 0
    terminal.save(
        update_fields=["registration_code_hash", "registration_expires_at", "registration_failures"]
    )
    _audit(terminal, actor, "registration_code")
    return code


def registration_code_display(code: str) -> str:
    """The code in groups of four, easier to read out and type: ``ABCD-EFGH-JKMN``."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def terminal_register(*, terminal_code: str, code: str) -> tuple[Terminal, str]:
    """An agent registers with the one-time code: it gets a new secret, returned here once and never shown
    again. The code works once, for REGISTRATION_CODE_HOURS; after REGISTRATION_MAX_FAILURES wrong codes it
    is void. A refusal changes nothing but the count of wrong codes."""
    with transaction.atomic():
        terminal = Terminal.objects.select_for_update().filter(code=terminal_code).first()
        if terminal is None:
            raise RegistrationRefused(f"unknown terminal {terminal_code!r}")
        if not terminal.enabled:
            raise RegistrationRefused(f"terminal {terminal.code} is disabled")
        if not terminal.registration_code_hash:
            raise RegistrationRefused(
                f"no registration code is pending for terminal {terminal.code} (used or void): "
                "ask an administrator for a new one"
            )
        if terminal.registration_expires_at is None or terminal.registration_expires_at <= timezone.now():
            raise RegistrationRefused(
                f"the registration code of terminal {terminal.code} has expired: ask an administrator for a new one"
            )
        given = registration_code_normalise(code)
        if not constant_time_compare(terminal.registration_code_hash, _registration_hash(terminal, given)):
            # Guessing is bounded: after a few wrong codes the code is void and an administrator issues a new one.
            terminal.registration_failures += 1
            left = REGISTRATION_MAX_FAILURES - terminal.registration_failures
            if left <= 0:
                terminal.registration_code_hash, terminal.registration_expires_at = "", None
                _audit(terminal, None, "registration_code_void")
            terminal.save(
                update_fields=["registration_failures", "registration_code_hash", "registration_expires_at"]
            )
            refusal = f"wrong registration code for terminal {terminal.code}: " + (
                f"{left} tries left"
                if left > 0
                else "the code is now void, ask an administrator for a new one"
            )
        else:
            refusal = ""
            terminal.secret = secrets.token_urlsafe(32)
            terminal.registration_code_hash, terminal.registration_expires_at = "", None
            terminal.registration_failures = 0
            terminal.registered_at = timezone.now()
            terminal.save(
                update_fields=[
                    "secret",
                    "registration_code_hash",
                    "registration_expires_at",
                    "registration_failures",
                    "registered_at",
                ]
            )
            _audit(terminal, None, "registered")
    if refusal:
        raise RegistrationRefused(refusal)
    return terminal, terminal.secret


def terminal_disable(*, terminal: Terminal, actor: Any) -> None:
    """Refuse every request of this terminal's agent from now on, and void a pending registration code."""
    Terminal.objects.filter(pk=terminal.pk).update(
        enabled=False, registration_code_hash="", registration_expires_at=None
    )
    terminal.refresh_from_db()
    _audit(terminal, actor, "disabled")


def terminal_enable(*, terminal: Terminal, actor: Any) -> None:
    Terminal.objects.filter(pk=terminal.pk).update(enabled=True)
    terminal.refresh_from_db()
    _audit(terminal, actor, "enabled")


# --- authenticating the agents' requests --------------------------------------------------------------------------


class EventRefused(Exception):
    """An agent request that is not accepted (unknown or disabled terminal, bad signature, a replay, another
    terminal's job or counter)."""


def terminal_authenticate(*, headers: Any, method: str, path: str, body: bytes) -> Terminal:
    """The terminal whose secret signed this request; EventRefused otherwise.

    The request's nonce is recorded: the same signed request sent again (a replay) is refused.
    """
    code = headers.get(signing.HEADER_TERMINAL, "")
    timestamp = headers.get(signing.HEADER_TIMESTAMP, "")
    nonce = headers.get(signing.HEADER_NONCE, "")
    if not signing.timestamp_fresh(timestamp):
        raise EventRefused(
            f"timestamp {timestamp[:20]!r} is more than {signing.MAX_SKEW_SECONDS} s off the server's clock"
        )
    if not nonce or len(nonce) > 64:
        raise EventRefused(f"missing or malformed {signing.HEADER_NONCE} header")
    terminal = Terminal.objects.filter(code=code).first()
    if terminal is None or not signing.verify(
        terminal.secret,
        timestamp=timestamp,
        nonce=nonce,
        given=headers.get(signing.HEADER_SIGNATURE, ""),
        method=method,
        path=path,
        body=body,
    ):
        raise EventRefused("unknown terminal or bad signature")
    if not terminal.enabled:
        raise EventRefused(f"terminal {terminal.code} is disabled")
    now = timezone.now()
    try:
        with transaction.atomic():
            TerminalNonce.objects.create(terminal=terminal, nonce=nonce, seen_at=now)
    except IntegrityError:
        raise EventRefused("request already used (replayed nonce)") from None
    Terminal.objects.filter(pk=terminal.pk).update(last_seen_at=now)
    return terminal


def agent_records_purge() -> tuple[int, int]:
    """Forget nonces whose requests could no longer pass the timestamp check (older than twice the allowed
    skew), and processed event ids older than MADOGUCHI_AGENT_EVENT_RETENTION_HOURS. Returns both counts."""
    now = timezone.now()
    nonces, _kinds = TerminalNonce.objects.filter(
        seen_at__lt=now - dt.timedelta(seconds=2 * signing.MAX_SKEW_SECONDS)
    ).delete()
    events, _kinds = AgentEvent.objects.filter(
        processed_at__lt=now - dt.timedelta(hours=settings.MADOGUCHI_AGENT_EVENT_RETENTION_HOURS)
    ).delete()
    return nonces, events


EVENT_ID = re.compile(r"[0-9a-f]{32}")


def agent_event_once(
    *, terminal: Terminal, event: Mapping[str, Any], handle: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Run ``handle`` for an event once: an event with an ``id`` (a uuid4 hex the agent's outbox made and resends
    unchanged) that was processed before gets the stored answer, and ``handle`` does not run again.

    The id is recorded in the same transaction as the handler's writes, so a refused or failed event leaves no
    record and can be sent again. Events without an id (older agents) are handled every time.
    """
    event_id = event.get("id")
    if event_id is None:
        return handle()
    if not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
        raise ValueError(f"id: {str(event_id)[:40]!r} is not a uuid in hex (32 lower-case hex digits)")
    kind = str(event.get("type", ""))[:64]
    if kind == "heartbeat":
        # An upsert of the terminal's state: harmless to repeat, and too frequent to record; but an id already
        # used by another event is still refused.
        stored_kind = AgentEvent.objects.filter(terminal=terminal, event_id=event_id).values_list(
            "kind", flat=True
        )
        if (previous := stored_kind.first()) is not None:
            raise ValueError(f"id: event {event_id} was a {previous!r} event, not {kind!r}")
        return handle()
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = AgentEvent.objects.create(
                    terminal=terminal, event_id=event_id, kind=kind, processed_at=timezone.now()
                )
        except IntegrityError:
            stored = AgentEvent.objects.get(terminal=terminal, event_id=event_id)
            if stored.kind != kind:
                raise ValueError(f"id: event {event_id} was a {stored.kind!r} event, not {kind!r}") from None
            return dict(stored.answer)
        answer = handle()
        record.answer = answer
        record.save(update_fields=["answer"])
    return answer


# --- heartbeats ---------------------------------------------------------------------------------------------------


def _text(value: Any, where: str, limit: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string, got {type(value).__name__}")
    return value[:limit]


def _heartbeat_devices(raw: Any) -> dict[str, dict[str, str]]:
    if not isinstance(raw, list):
        raise ValueError("devices: expected a list")
    reported: dict[str, dict[str, str]] = {}
    for index, device in enumerate(raw):
        where = f"devices[{index}]"
        if not isinstance(device, Mapping):
            raise ValueError(f"{where}: expected an object")
        kind = device.get("kind")
        if kind not in DeviceKind.values:
            raise ValueError(
                f"{where}.kind: unknown device kind {kind!r} (one of {', '.join(DeviceKind.values)})"
            )
        if kind in reported:
            raise ValueError(f"{where}.kind: {kind} is reported twice")
        status = device.get("status")
        if status not in DeviceStatus.values:
            raise ValueError(f"{where}.status: {status!r} is not one of {', '.join(DeviceStatus.values)}")
        reported[kind] = {
            "driver": _text(device.get("driver", ""), f"{where}.driver", 100),
            "status": status,
            "detail": _text(device.get("detail", ""), f"{where}.detail", 300),
        }
    return reported


def terminal_heartbeat(terminal: Terminal, event: Mapping[str, Any]) -> dict[str, Any]:
    """Record a heartbeat: the agent's version and start time, and the state of each device it drives. A device
    kind it no longer reports is marked absent. The whole event is checked before anything is written."""
    agent = event.get("agent")
    if not isinstance(agent, Mapping):
        raise ValueError("agent: expected an object with version and started_at")
    version = _text(agent.get("version"), "agent.version", 64)
    try:
        started_at = dt.datetime.fromisoformat(_text(agent.get("started_at"), "agent.started_at", 64))
    except ValueError as exc:
        raise ValueError(f"agent.started_at: not an ISO date-time ({exc})") from None
    if timezone.is_naive(started_at):
        started_at = timezone.make_aware(started_at, dt.UTC)
    reported = _heartbeat_devices(event.get("devices"))
    now = timezone.now()
    before = Terminal.objects.filter(pk=terminal.pk).values_list("last_heartbeat_at", flat=True).first()
    printers_before = set(
        Device.objects.filter(
            terminal=terminal, kind__in=PRINTER_KINDS.values(), status=DeviceStatus.ERROR
        ).values_list("kind", flat=True)
    )
    came_back = before is not None and before < _offline_since()
    printer_back = any(reported.get(kind, {}).get("status") == DeviceStatus.OK for kind in printers_before)
    with transaction.atomic():
        Terminal.objects.filter(pk=terminal.pk).update(
            last_heartbeat_at=now, agent_version=version, agent_started_at=started_at
        )
        for kind, values in reported.items():
            Device.objects.update_or_create(
                terminal=terminal, kind=kind, defaults={**values, "updated_at": now}
            )
        Device.objects.filter(terminal=terminal).exclude(kind__in=reported).exclude(
            status=DeviceStatus.ABSENT
        ).update(status=DeviceStatus.ABSENT, detail="", updated_at=now)
        if came_back or printer_back:
            # Jobs that waited for this terminal print now, without waiting for the next redispatch.
            transaction.on_commit(lambda: print_jobs_resume(terminal=terminal))
    return {"terminal": terminal.code, "status": "ok"}


# --- print jobs ---------------------------------------------------------------------------------------------------


def print_job_create(*, terminal: Terminal, title: str, pdf: bytes, requested_by: Any) -> PrintJob:
    """Store the PDF and send the job to the terminal's agent once the transaction commits."""
    job = PrintJob(terminal=terminal, kind=PrintKind.A4, title=title, requested_by=requested_by)
    job.pdf.save(f"{terminal.code}-{timezone.now():%H%M%S%f}.pdf", ContentFile(pdf), save=False)
    job.save()
    transaction.on_commit(lambda: print_job_dispatch(job=job))
    return job


def receipt_job_create(*, terminal: Terminal, title: str, receipt: Any, requested_by: Any) -> PrintJob:
    """Store a receipt (番号札, 受付票 …) for the terminal's receipt printer and send the job once the transaction
    commits. Like A4 jobs, the row is the state: print_jobs_redispatch resends it until the agent confirms."""
    job = PrintJob.objects.create(
        terminal=terminal,
        kind=PrintKind.RECEIPT,
        title=title[:200],
        receipt=receipt_validate(receipt),
        requested_by=requested_by,
    )
    transaction.on_commit(lambda: print_job_dispatch(job=job))
    return job


def print_job_dispatch(*, job: PrintJob, counted: bool = True) -> None:
    """Nudge the agent. If the broker is down the job stays queued and print_jobs_redispatch sends it later.
    ``counted``: the send counts towards MADOGUCHI_PRINT_MAX_DISPATCHES (not while the agent cannot print)."""
    try:
        celery_app.send_task(
            DISPATCH_TASKS[PrintKind(job.kind)], kwargs={"job_id": job.pk}, queue=job.terminal.queue
        )
    except Exception:
        logger.warning("print job %s: broker unreachable, will redispatch", job.pk)
        return
    PrintJob.objects.filter(pk=job.pk).update(
        dispatched_at=timezone.now(), dispatch_count=F("dispatch_count") + (1 if counted else 0)
    )


PRINTER_KINDS = {PrintKind.A4: DeviceKind.A4_PRINTER, PrintKind.RECEIPT: DeviceKind.RECEIPT_PRINTER}


def _offline_since() -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=settings.MADOGUCHI_TERMINAL_OFFLINE_SECONDS)


def _printer_waits(job: PrintJob, broken: set[tuple[int, str]]) -> bool:
    """Whether the job waits for its terminal rather than for an answer: the agent has sent heartbeats but is
    offline now, or it reports the job's printer in error (a receipt printer out of paper, switched off …).
    Such a job is neither failed nor resent until the terminal is back (terminal_heartbeat resends it)."""
    terminal = job.terminal
    offline = terminal.last_heartbeat_at is not None and terminal.last_heartbeat_at < _offline_since()
    return offline or (terminal.pk, PRINTER_KINDS[PrintKind(job.kind)]) in broken


def print_jobs_redispatch() -> int:
    """Send again every job still queued and not dispatched within MADOGUCHI_PRINT_REDISPATCH_SECONDS; fail a
    job whose agent has not confirmed it after MADOGUCHI_PRINT_MAX_DISPATCHES sends, so the clerk sees it.

    A job whose terminal is offline, or whose printer its agent reports in error, waits: it is not resent (the
    message already queued for the agent is enough) and not failed; it prints when the printer is back — unless
    it has waited MADOGUCHI_PRINT_WAIT_HOURS, or its terminal is disabled: then it fails, visibly, so the clerk
    prints it elsewhere instead of waiting for a PC that is not coming back."""
    cutoff = timezone.now() - dt.timedelta(seconds=settings.MADOGUCHI_PRINT_REDISPATCH_SECONDS)
    stale = list(
        PrintJob.objects.select_related("terminal").filter(
            Q(dispatched_at=None) | Q(dispatched_at__lt=cutoff), status=PrintStatus.QUEUED
        )
    )
    broken = set(
        Device.objects.filter(
            terminal__in={job.terminal_id for job in stale},
            kind__in=PRINTER_KINDS.values(),
            status=DeviceStatus.ERROR,
        ).values_list("terminal_id", "kind")
    )
    waited_too_long = timezone.now() - dt.timedelta(hours=settings.MADOGUCHI_PRINT_WAIT_HOURS)
    for job in stale:
        if not job.terminal.enabled:
            print_job_fail(job=job, message=f"端末 {job.terminal.code} は無効にされています")
            continue
        if job.dispatched_at is not None and _printer_waits(job, broken):
            if job.created_at < waited_too_long:
                print_job_fail(
                    job=job,
                    message=f"端末 {job.terminal.code} またはプリンターが {settings.MADOGUCHI_PRINT_WAIT_HOURS} "
                    "時間使えないため印刷できませんでした",
                )
            continue
        if job.dispatch_count >= settings.MADOGUCHI_PRINT_MAX_DISPATCHES:
            print_job_fail(job=job, message=f"端末 {job.terminal.code} から印刷の確認がありません")
        else:
            print_job_dispatch(job=job)
    return len(stale)


def print_jobs_resume(*, terminal: Terminal) -> int:
    """Resend every queued job of a terminal that has just come back (or whose printer has), uncounted."""
    jobs = list(
        PrintJob.objects.select_related("terminal").filter(terminal=terminal, status=PrintStatus.QUEUED)
    )
    for job in jobs:
        print_job_dispatch(job=job, counted=False)
    return len(jobs)


def print_job_fail(*, job: PrintJob, message: str) -> None:
    """Mark a still-queued job failed with a message the clerk screen shows."""
    changed = PrintJob.objects.filter(pk=job.pk, status=PrintStatus.QUEUED).update(
        status=PrintStatus.FAILED, message=message[:300], finished_at=timezone.now()
    )
    if changed:
        job.refresh_from_db()
        print_job_changed(job)


def print_jobs_purge() -> int:
    """Delete the PDFs and receipts (personal data) of jobs finished more than MADOGUCHI_PRINT_RETENTION_HOURS
    ago. Returns how many jobs lost their content."""
    cutoff = timezone.now() - dt.timedelta(hours=settings.MADOGUCHI_PRINT_RETENTION_HOURS)
    purged = 0
    for job in PrintJob.objects.filter(finished_at__lt=cutoff, kind=PrintKind.A4).exclude(pdf=""):
        job.pdf.delete(save=False)
        PrintJob.objects.filter(pk=job.pk).update(pdf="")
        purged += 1
    purged += (
        PrintJob.objects.filter(finished_at__lt=cutoff, kind=PrintKind.RECEIPT)
        .exclude(receipt={})
        .update(receipt={})
    )
    return purged


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
CARD_PROBE_TASK = "devices.agent.probe_card"
CARD_COMMAND_SECONDS = 60
# mynumber: My Number card with its PIN; mynumber_b: the same card opened with 照合番号B; licence: the driver's
# licence with PIN1; residence: 在留カード, whose key is the card number. Whatever the kind, the secret is ``pin``.
CARD_KINDS = ("mynumber", "mynumber_b", "licence", "residence")


class CommandUnavailable(Exception):
    """The command could not be sent to the terminal's agent (broker unreachable); the message says so."""


def card_probe_request(*, terminal: Terminal, request_id: str, kind: str) -> bool:
    """Ask the terminal's agent for the tries left of the PIN of the card in its reader (no secret, no try spent);
    it answers ``card.probed``. Best effort: False when the broker is unreachable (the read itself still works)."""
    if kind not in ("mynumber", "licence"):
        raise ValueError(f"card kind {kind!r} has no PIN to probe")
    try:
        celery_app.send_task(
            CARD_PROBE_TASK,
            kwargs={"request_id": request_id, "kind": kind},
            queue=terminal.queue,
            expires=CARD_COMMAND_SECONDS,
        )
    except Exception:
        logger.warning("card probe for terminal %s: broker unreachable", terminal.code)
        return False
    return True


@sensitive_variables("pin")
def card_read_request(*, terminal: Terminal, request_id: str, kind: str, pin: str) -> None:
    """Ask the terminal's agent to read the card in its reader with ``pin`` (the PIN, 照合番号B or card number).

    The PIN travels only inside this one broker message, and sealed (devices.signing.seal: AES-GCM under a key
    derived from the terminal's secret, bound to this terminal, request and card kind), so neither the broker nor
    its files (Redis's append-only file, the demo's broker folder) ever hold it in clear. It is never stored,
    never logged, and the sealed value is hidden from Celery's task representation (``kwargsrepr``) too. The
    seal holds the time after which the agent must not use it (a minute, plus the clock skew the signed API
    allows): a late command is answered ``expired``, not dropped in silence, and the agent keeps the ids of the
    requests it has read, so a command replayed from the broker is refused without touching the card. Nothing
    retries a read: the resident types the PIN again.
    """
    if kind not in CARD_KINDS:
        raise ValueError(f"unknown card kind {kind!r}")
    sealed = signing.card_command_seal(
        terminal.secret,
        pin,
        terminal=terminal.code,
        request_id=request_id,
        kind=kind,
        until=int(time.time()) + CARD_COMMAND_SECONDS,
    )
    del pin
    try:
        celery_app.send_task(
            CARD_TASK,
            kwargs={"request_id": request_id, "kind": kind, "sealed_pin": sealed},
            kwargsrepr=repr({"request_id": request_id, "kind": kind, "sealed_pin": "****"}),
            queue=terminal.queue,
        )
    except Exception as exc:
        logger.warning("card read for terminal %s: broker unreachable", terminal.code)
        raise CommandUnavailable(f"端末 {terminal.code} に読み取りを依頼できません（通信エラー）") from exc
