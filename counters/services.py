"""Writes of the counters app: tickets, the counter session from reception to finish, and resident tablets.

Every change of a session goes through ``_change``: under a row lock it checks the step is allowed, bumps the
session's ``version``, writes the timeline (``SessionEvent``) and the audit log, and — once the transaction
commits — nudges the clerk screen and the counter's tablet through the push channel. Browsers and tablets post
the version they showed; an older one is refused as stale, so a resident never confirms what they did not see.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from devices import services as devices
from devices.models import PrintJob, Terminal
from devices.services import print_job_create
from forms_engine.models import FormVersion
from forms_engine.rendering import FormRenderError, render_csv_row, render_packet
from forms_engine.schema import VersionSpec
from forms_engine.selectors import form_version_current, form_versions_current, render_source
from forms_engine.services import context_jsonable, form_fill, form_prefill
from forms_engine.standard_layouts import CARD_SOURCE, standard_layouts_for
from forms_engine.validation import form_data_clean
from integrations import selectors as mirror
from integrations.models import Resident
from integrations.services import ExportRefused, ExportRows, outbox_put
from madoguchi import push
from madoguchi.accounts.roles import Role, has_role, in_scope
from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record
from madoguchi.fieldcrypt import SealBroken, seal, unseal
from madoguchi.moji.csvsafe import UnsafeCsvValue

from .models import (
    Counter,
    CounterGroup,
    CounterSession,
    Progress,
    SessionEvent,
    SessionForm,
    SessionState,
    TabletPairing,
    Ticket,
    TicketStatus,
)
from .selectors import session_context, session_form_sources

logger = logging.getLogger(__name__)

GUIDANCE_FORM = "tetsuzuki_annai"
OUTPUT_KINDS = (
    "finish",
    "reprint",
    "output",
    "output_failed",
)  # 手続案内書 (R-C6), printed for every visit with procedures
S = SessionState
STEPS: dict[str, frozenset[str]] = {
    S.RECEPTION: frozenset({S.IDENTIFIED}),
    S.IDENTIFIED: frozenset({S.RECEPTION, S.INTERVIEW}),
    S.INTERVIEW: frozenset({S.IDENTIFIED, S.FORMS}),
    S.FORMS: frozenset({S.INTERVIEW, S.CONFIRMING}),
    S.CONFIRMING: frozenset({S.FORMS, S.OUTPUT}),
    S.OUTPUT: frozenset({S.FORMS, S.FINISHED}),
    S.RETURNED: frozenset({S.INTERVIEW, S.FORMS}),
    S.FINISHED: frozenset(),
}
RETURNABLE = frozenset({S.IDENTIFIED, S.INTERVIEW, S.FORMS, S.CONFIRMING, S.OUTPUT})
LANGUAGES = ("ja", "ja-easy", "en", "zh-hans", "ko", "vi", "pt", "ne")
PAIRING_CODE_MINUTES = 10
PAIRING_MAX_FAILURES = 5
MAX_COMPANIONS = 9


class SessionError(Exception):
    """A session operation that is not allowed now; the message says why, in the clerk's terms."""


class SessionStale(SessionError):
    """The request was made on an older state of the session (it moved on since the page was shown)."""


class SessionBusy(SessionError):
    """Another clerk works the session."""


class TabletRefused(SessionError):
    """A tablet asked for what it may not have: unpaired, revoked, or another counter's session."""


# --- the change of a session ---------------------------------------------------------------------------------


def _announce(session: CounterSession, kind: str) -> None:
    event = {"type": "session", "reception_no": session.reception_no, "version": session.version}
    event |= {"state": session.state, "kind": kind}
    push.publish_on_commit(f"session:{session.reception_no}", event)
    push.publish_on_commit(f"counter:{session.counter.code}", event)


def _locked(session: CounterSession, version: int | None = None) -> CounterSession:
    locked = CounterSession.objects.select_for_update().select_related("counter").get(pk=session.pk)
    if version is not None and version != locked.version:
        raise SessionStale(
            f"受付番号 {locked.reception_no} は画面を表示した後に更新されています。最新の内容を確認してください。"
        )
    return locked


def _change(
    locked: CounterSession,
    *,
    actor: Any,
    kind: str,
    to: str | None = None,
    fields: Iterable[str] = (),
    detail: Mapping[str, Any] | None = None,
) -> CounterSession:
    """Record a change of ``locked`` (held under select_for_update in the caller's transaction)."""
    changed = set(fields) | {"version"}
    if to is not None and to not in S.values:
        raise SessionError(f"受付番号 {locked.reception_no}: 状態 {to!r} はありません")
    if to is not None and to != locked.state:
        allowed = STEPS[locked.state] | (
            frozenset({S.RETURNED}) if locked.state in RETURNABLE else frozenset()
        )
        if to not in allowed:
            raise SessionError(
                f"受付番号 {locked.reception_no} は「{locked.get_state_display()}」から"
                f"「{S(to).label}」に進めません"
            )
        locked.state = to
        locked.state_changed_at = timezone.now()
        changed |= {"state", "state_changed_at"}
    locked.version += 1
    locked.save(update_fields=sorted(changed))
    _record(locked, actor=actor, kind=kind, detail=detail)
    return locked


def _record(session: CounterSession, *, actor: Any, kind: str, detail: Mapping[str, Any] | None) -> None:
    """The timeline entry, the audit record and (after commit) the push of one step of ``session``."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    SessionEvent.objects.create(
        session=session,
        kind=kind,
        state=session.state,
        counter=session.counter,
        actor=user,
        detail=dict(detail or {}),
    )
    audit_record(
        actor=user,
        action=AuditAction.SESSION,
        target_type="reception",
        target_ref=session.reception_no,
        detail={"kind": kind, "state": session.state, **(detail or {})},
    )
    _announce(session, kind)


def _require_clerk(locked: CounterSession, clerk: Any) -> None:
    if locked.clerk_id != clerk.pk:
        holder = locked.clerk.get_full_name() or locked.clerk.get_username() if locked.clerk else ""
        if holder:
            raise SessionBusy(f"受付番号 {locked.reception_no} は {holder} さんが対応中です")
        raise SessionBusy(
            f"受付番号 {locked.reception_no} は対応する職員がいません。「対応する」を押してください"
        )


def _clerk_step(session: CounterSession, clerk: Any, version: int | None) -> CounterSession:
    locked = _locked(session, version)
    _require_clerk(locked, clerk)
    if locked.state == S.FINISHED:
        raise SessionError(f"受付番号 {locked.reception_no} は完了しています")
    return locked


# --- tickets and opening ---------------------------------------------------------------------------------------


def ticket_issue(*, group: CounterGroup, requested_by: Any = None) -> Ticket:
    """The group's next numbered ticket of the day (番号札), printed on the group's ticket printer if it has one.

    The ticket and its print job are written in one transaction: a ticket is never printed twice nor lost when
    the printer or its agent is away (the job waits, devices redispatches it)."""
    today = timezone.localdate()
    with transaction.atomic():
        locked = (
            CounterGroup.objects.select_for_update(of=("self",))
            .select_related("ticket_terminal")
            .get(pk=group.pk)
        )
        last = Ticket.objects.filter(group=group, day=today).order_by("-number").first()
        ticket = Ticket.objects.create(group=group, day=today, number=(last.number if last else 0) + 1)
        if locked.ticket_terminal is not None:
            devices.receipt_job_create(
                terminal=locked.ticket_terminal,
                title=f"番号札 {ticket.label}",
                receipt=_ticket_receipt(locked, ticket),
                requested_by=requested_by,
            )
    push.publish_on_commit(f"group:{group.code}", {"type": "queue", "group": group.code})
    return ticket


def _ticket_receipt(group: CounterGroup, ticket: Ticket) -> dict[str, Any]:
    issued = timezone.localtime()
    waiting = (
        Ticket.objects.filter(group=group, day=ticket.day, status=TicketStatus.WAITING)
        .exclude(pk=ticket.pk)
        .count()
    )
    return {
        "title": f"番号札 {ticket.label}",
        "lines": [
            {"text": group.name, "size": "normal", "align": "center"},
            {"text": "受付番号", "size": "normal", "align": "center"},
            {"text": ticket.label, "size": "large", "align": "center"},
            {"text": f"お待ちの方 {waiting} 人", "size": "normal", "align": "center"},
            {"text": f"{issued:%Y年%m月%d日 %H:%M} 発券", "size": "normal", "align": "center"},
            {"text": "番号をお呼びするまでお待ちください。", "size": "normal", "align": "left"},
        ],
        "qr": None,
        "cut": True,
    }


def counter_session_open(*, counter: Counter, clerk: Any, ticket: Ticket | None = None) -> CounterSession:
    """Open a session (受付) with the next reception number of the day at this counter; the clerk works it."""
    today = timezone.localdate()
    with transaction.atomic():
        # Lock the counter row so two clerks opening at once get different numbers.
        Counter.objects.select_for_update().get(pk=counter.pk)
        prefix = f"{today:%Y%m%d}-{counter.code}-"
        count = CounterSession.objects.filter(reception_no__startswith=prefix).count()
        session = CounterSession.objects.create(
            counter=counter,
            clerk=clerk,
            ticket=ticket,
            reception_no=f"{prefix}{count + 1:04d}",
            state_changed_at=timezone.now(),
        )
        _record(session, actor=clerk, kind="open", detail={"ticket": ticket.label} if ticket else {})
    return session


def ticket_call_next(*, counter: Counter, clerk: Any) -> CounterSession | None:
    """Call the oldest waiting ticket of the counter's group to this counter and open its session; None when
    nobody waits. Two counters calling at once never get the same ticket."""
    if counter.group_id is None:
        raise SessionError(f"窓口 {counter.name} は番号札のグループに属していません")
    with transaction.atomic():
        waiting = Ticket.objects.filter(
            group_id=counter.group_id, day=timezone.localdate(), status=TicketStatus.WAITING
        ).order_by("number")
        if transaction.get_connection().features.has_select_for_update_skip_locked:
            waiting = waiting.select_for_update(skip_locked=True)
        ticket = waiting.first()
        if ticket is None:
            return None
        ticket.status, ticket.called_at, ticket.called_to = TicketStatus.CALLED, timezone.now(), counter
        ticket.save(update_fields=["status", "called_at", "called_to"])
        session = counter_session_open(counter=counter, clerk=clerk, ticket=ticket)
    group = CounterGroup.objects.get(pk=counter.group_id)
    push.publish_on_commit(f"group:{group.code}", {"type": "queue", "group": group.code})
    return session


# --- who works the session -------------------------------------------------------------------------------------


def session_claim(*, session: CounterSession, clerk: Any) -> CounterSession:
    """The clerk takes the session (one clerk at a time); taking one's own session again changes nothing."""
    with transaction.atomic():
        locked = _locked(session)
        if locked.clerk_id == clerk.pk:
            return locked
        if locked.clerk_id is not None:
            _require_clerk(locked, clerk)
        if locked.state == S.FINISHED:
            raise SessionError(f"受付番号 {locked.reception_no} は完了しています")
        locked.clerk = clerk
        return _change(locked, actor=clerk, kind="claim", fields=["clerk"])


def session_release(*, session: CounterSession, clerk: Any) -> CounterSession:
    """The clerk leaves the session for another clerk of the same counter to take."""
    with transaction.atomic():
        locked = _locked(session)
        _require_clerk(locked, clerk)
        locked.clerk = None
        return _change(locked, actor=clerk, kind="release", fields=["clerk"])


def session_handoff(*, session: CounterSession, to_counter: Counter, clerk: Any) -> CounterSession:
    """Hand the session to another counter (e.g. 市民課 → 保険年金課): it keeps its number, state and timeline
    and waits there for a clerk to take it."""
    with transaction.atomic():
        locked = _clerk_step(session, clerk, None)
        if to_counter.pk == locked.counter_id:
            raise SessionError(f"受付番号 {locked.reception_no} はすでに {to_counter.name} の受付です")
        origin = locked.counter
        # The tablet of the old counter must let go: it shows only its own counter's session.
        _announce(locked, "handoff")
        locked.counter, locked.clerk = to_counter, None
        return _change(
            locked,
            actor=clerk,
            kind="handoff",
            fields=["counter", "clerk"],
            detail={"from": origin.code, "to": to_counter.code},
        )


def session_return(*, session: CounterSession, clerk: Any, reason: str) -> CounterSession:
    """差戻し: the reception goes back for correction (e.g. a document is missing), with the reason."""
    reason = reason.strip()
    if not reason:
        raise SessionError("差戻しの理由を入力してください")
    with transaction.atomic():
        locked = _clerk_step(session, clerk, None)
        locked.return_reason, locked.progress = reason[:300], Progress.RETURNED
        return _change(
            locked, actor=clerk, kind="return", to=S.RETURNED, fields=["return_reason", "progress"]
        )


def session_step_back(
    *, session: CounterSession, clerk: Any, to: str, version: int | None = None
) -> CounterSession:
    """Go back a step (e.g. from 申請書作成 to 聞き取り, or recall the forms from the tablet)."""
    with transaction.atomic():
        locked = _clerk_step(session, clerk, version)
        return _change(locked, actor=clerk, kind="back", to=to)


# --- identification ----------------------------------------------------------------------------------------


def _resident_active(resident: Resident) -> None:
    if resident.juumin_jotai != "1":
        raise SessionError(
            f"宛名番号 {resident.atena_no} の方は{resident.get_juumin_jotai_display()}により消除されています。"
            "この記録では手続きできません"
        )


def session_identify(
    *, session: CounterSession, atena_no: str, clerk: Any, by: str = "search", version: int | None = None
) -> Resident:
    """本人確認: the visitor is this resident of the mirror. A resident who is 消除 (moved out, dead) is
    refused and nothing changes."""
    resident = mirror.resident_get(atena_no=atena_no.strip())
    if resident is None:
        raise SessionError(f"宛名番号 {atena_no} は住民データにありません")
    _resident_active(resident)
    with transaction.atomic():
        locked = _clerk_step(session, clerk, version)
        if locked.state not in (S.RECEPTION, S.IDENTIFIED):
            raise SessionError(f"受付番号 {locked.reception_no} は本人確認を終えています")
        locked.atena_no, locked.identified_by, locked.identified_at = resident.atena_no, by, timezone.now()
        _change(
            locked,
            actor=clerk,
            kind="identify",
            to=S.IDENTIFIED,
            fields=["atena_no", "identified_by", "identified_at"],
            detail={"by": by},
        )
    session.refresh_from_db()
    return resident


def session_qr(*, session: CounterSession, payload: str, clerk: Any) -> Resident:
    """A QR code scanned at the counter (keyboard-wedge scanner or the agent's scanner)."""
    from intake.qr import QrInvalid, qr_parse

    try:
        parsed = qr_parse(payload)
    except QrInvalid as invalid:
        raise SessionError(str(invalid)) from invalid
    return session_identify(session=session, atena_no=parsed.atena_no, clerk=clerk, by="qr")


CARD_KINDS = ("mynumber", "mynumber_b", "licence", "residence")
# Read with a PIN the resident types on the tablet.
CARD_PIN_KINDS = ("mynumber", "licence")
# Read with what is printed on the card, which the clerk types at the desk with the card in hand.
CARD_PRINTED_KINDS = ("mynumber_b", "residence")
RESIDENCE_CARD_NO = re.compile(r"[A-Z]{2}[0-9]{8}[A-Z]{2}")


def _card_printed_check(kind: str, printed: str) -> str:
    """The shape of what the clerk typed from the card (照合番号B or the residence card number), upper-cased; the
    value itself is never stored, logged or put in an error message."""
    value = printed.strip().upper()
    if kind == "mynumber_b":
        if not (len(value) == 14 and value.isascii() and value.isdigit()):
            raise SessionError(
                "照合番号Bは数字14桁です（生年月日6桁・有効期限の西暦4桁・セキュリティコード4桁）"
            )
        return value
    if not RESIDENCE_CARD_NO.fullmatch(value):
        raise SessionError("在留カード番号は英字2桁・数字8桁・英字2桁の12文字です")
    return value


@sensitive_variables("printed", "secret")
def session_card_request(
    *, session: CounterSession, clerk: Any, kind: str = "mynumber", printed: str = ""
) -> CounterSession:
    """Read the ID card on the counter's reader.

    My Number card with its PIN and the driver's licence (PIN 1): the resident types the PIN on the tablet, and the
    card is read when they enter it. My Number card by 照合番号B and the residence card: the key is printed on the
    card, the clerk types it (``printed``) and the read starts at once; the key goes only into the agent's command.
    """
    if kind not in CARD_KINDS:
        raise SessionError(f"カードの種類 {kind!r} は読み取れません")
    if session.counter.terminal_id is None:
        raise SessionError(f"窓口 {session.counter.name} にはカードリーダーの端末がありません")
    secret = _card_printed_check(kind, printed) if kind in CARD_PRINTED_KINDS else ""
    with transaction.atomic():
        locked = _clerk_step(session, clerk, None)
        if locked.state not in (S.RECEPTION, S.IDENTIFIED):
            raise SessionError(f"受付番号 {locked.reception_no} は本人確認を終えています")
        # The last failure's reason and tries left stay, so the PIN pad can show them.
        last = {key: locked.card[key] for key in ("reason", "retries_left") if key in locked.card}
        locked.card = {
            "kind": kind,
            "pin_requested": kind in CARD_PIN_KINDS,
            "request": secrets.token_hex(8),
            "status": "pin" if kind in CARD_PIN_KINDS else "reading",
            **last,
        }
        changed = _change(locked, actor=clerk, kind="card_request", fields=["card"], detail={"card": kind})
        if secret:
            _card_read_send(locked, secret)
        elif locked.counter.terminal is not None:
            # The tries left, read before the resident types (card_probe_event).
            terminal, request_id = locked.counter.terminal, locked.card["request"]
            transaction.on_commit(
                lambda: devices.card_probe_request(terminal=terminal, request_id=request_id, kind=kind)
            )
        return changed


@sensitive_variables("secret")
def _card_read_send(session: CounterSession, secret: str) -> None:
    terminal = session.counter.terminal
    if terminal is None:
        raise SessionError("この窓口にはカードリーダーの端末がありません")
    try:
        devices.card_read_request(
            terminal=terminal, request_id=session.card["request"], kind=session.card["kind"], pin=secret
        )
    except devices.CommandUnavailable as unavailable:
        raise SessionError(str(unavailable)) from unavailable


def session_card_cancel(*, session: CounterSession, clerk: Any) -> CounterSession:
    with transaction.atomic():
        locked = _clerk_step(session, clerk, None)
        locked.card = {
            key: value for key, value in locked.card.items() if key not in ("pin_requested", "status")
        }
        return _change(locked, actor=clerk, kind="card_cancel", fields=["card"])


@sensitive_variables("pin")
def tablet_card_pin(*, session: CounterSession, pairing: TabletPairing, pin: str, version: int) -> None:
    """The resident typed the PIN on the tablet: it goes straight into the agent's read command.

    The PIN is checked for shape only (4 digits) and never stored, logged or audited; the session records only
    that a read was requested.
    """
    if not (len(pin) == 4 and pin.isascii() and pin.isdigit()):
        raise SessionError("暗証番号は数字4桁です")
    with transaction.atomic():
        locked = _tablet_step(session, pairing, version)
        if not locked.card.get("pin_requested"):
            raise SessionStale("カードの読み取りは求められていません")
        locked.card = {**locked.card, "pin_requested": False, "status": "reading"}
        _change(locked, actor=None, kind="card_pin", fields=["card"], detail={"tablet": pairing.pk})
        _card_read_send(locked, pin)


def _card_person_matches(card: Mapping[str, Any]) -> Resident | None:
    """The active resident of the mirror with the card's name and birth date, if exactly one."""
    name = str(card.get("shimei", ""))
    shi, _, mei = name.partition("　")
    try:
        birth = dt.date.fromisoformat(str(card.get("birth_date", "")))
    except ValueError:
        return None
    found = list(
        mirror.residents_matching(name=f"{shi}{mei}", birth_date=birth).filter(
            shi=shi, mei=mei, juumin_jotai="1"
        )[:2]
    )
    return found[0] if len(found) == 1 else None


CARD_PROBE_STATUSES = ("ok", "no_card", "unknown_card", "locked", "card_removed", "malformed", "reader_missing",
                       "reader_error")  # fmt: skip


def card_probe_event(terminal: Terminal, event: Mapping[str, Any]) -> dict[str, Any]:
    """The agent's ``card.probed``: the tries left of the card's PIN (or why they could not be read), for the
    session whose PIN pad waits. Shown on the pad and the clerk screen; not a step of the session, so the version
    stays (a PIN being typed is not made stale by it) — the screens are told to refresh."""
    request_id = str(event.get("request", ""))
    status = str(event.get("status", ""))
    if status not in CARD_PROBE_STATUSES:
        raise ValueError(f"status: {status[:32]!r} is not one of {', '.join(CARD_PROBE_STATUSES)}")
    retries = event.get("retries_left")
    if retries is not None and (
        isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 15
    ):
        raise ValueError("retries_left: expected a number of tries 0-15 or null")
    with transaction.atomic():
        session = _card_session(terminal, request_id)
        if not session.card.get("pin_requested"):
            return {"session": session.reception_no, "status": "ignored"}  # the PIN was typed meanwhile
        # The card as it is now supersedes an earlier read's failure, but for a wrong PIN, which the pad still
        # tells the resident (with the tries left the probe found).
        card = {key: value for key, value in session.card.items() if key != "reason"}
        if session.card.get("reason") == "wrong_pin":
            card["reason"] = "wrong_pin"
        session.card = {**card, "probe": status, "retries_left": retries}
        session.save(update_fields=["card"])
        _announce(session, "card_probe")
    return {"session": session.reception_no, "status": status}


def _card_session(terminal: Terminal, request_id: str) -> CounterSession:
    """The unfinished session waiting for card request ``request_id``, locked; refused unless ``terminal``
    drives its counter."""
    session = (
        CounterSession.objects.select_for_update()
        .select_related("counter")
        .filter(card__request=request_id)
        .exclude(state=S.FINISHED)
        .first()
    )
    if session is None or not request_id:
        raise devices.EventRefused(f"no session waits for card read {request_id!r}")
    if session.counter.terminal_id != terminal.pk:
        raise devices.EventRefused(f"terminal {terminal.code} does not drive counter {session.counter.code}")
    return session


def card_event(terminal: Terminal, event: Mapping[str, Any]) -> dict[str, Any]:
    """The agent's ``card.read`` / ``card.failed`` event, for the session that asked for it.

    The terminal must drive the counter of that session. The basic four items stay with the session for its
    forms; the individual number is kept only sealed (``card_secret``), for the 個人番号カード券面事項 export,
    and leaves the session when the output hands it to the outbox (R-I4).
    """
    request_id = str(event.get("request", ""))
    with transaction.atomic():
        session = _card_session(terminal, request_id)
        if session.card.get("status") != "reading":
            return {"session": session.reception_no, "status": "ignored"}  # a repeated event
        if event.get("type") == "card.failed":
            retries = event.get("retries_left")
            session.card = {
                "kind": session.card.get("kind", ""),
                "request": request_id,
                "status": "failed",
                "reason": str(event.get("reason", ""))[:32],
                "retries_left": retries if isinstance(retries, int) else None,
            }
            _change(
                session,
                actor=None,
                kind="card_failed",
                fields=["card"],
                detail={"reason": session.card["reason"]},
            )
            return {"session": session.reception_no, "status": "failed"}
        raw = event.get("card")
        if not isinstance(raw, Mapping):
            raise ValueError("card.read needs the card's data")
        kind = str(session.card.get("kind", "mynumber"))
        card = {
            "kind": kind,
            "shimei": str(raw.get("name", ""))[:100],
            "kana": str(raw.get("kana", ""))[:100],
            "birth_date": str(raw.get("birth_date", ""))[:10],
            "sex": {"1": "男", "2": "女"}.get(str(raw.get("sex", "")), str(raw.get("sex", ""))[:2]),
            "postal_code": "",
            "address": str(raw.get("address", ""))[:300],
            # The residence card: the person is a foreign resident (the forms' 外国人 fields).
            "nationality": str(raw.get("nationality", ""))[:60],
            "request": request_id,
            "status": "read",
            "read_at": timezone.now().isoformat(),
        }
        resident = _card_person_matches(card)
        session.card = card
        number = str(raw.get("individual_number", ""))
        session.card_secret = (
            seal(number, purpose=INDIVIDUAL_NUMBER) if number.isdigit() and len(number) == 12 else ""
        )
        fields = ["card", "card_secret"]
        if session.state == S.RECEPTION:
            session.identified_by, session.identified_at = "card", timezone.now()
            session.atena_no = (
                resident.atena_no if resident is not None and resident.juumin_jotai == "1" else ""
            )
            fields += ["identified_by", "identified_at", "atena_no"]
        _change(
            session,
            actor=None,
            kind="card_read",
            # A read that arrives after the clerk moved on keeps the card data and leaves the step alone.
            to=S.IDENTIFIED if session.state == S.RECEPTION else None,
            fields=fields,
            detail={"matched": bool(session.atena_no)},
        )
        return {"session": session.reception_no, "status": "read"}


# --- interview, procedures and forms -------------------------------------------------------------------------


def _companions_clean(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    from madoguchi.moji.text import mj_problems

    cleaned: list[dict[str, str]] = []
    for index, row in enumerate(rows, start=1):
        values = {
            key: str(row.get(key, "")).strip()
            for key in ("shi", "mei", "shi_kana", "mei_kana", "birth_date", "sex", "zokugara")
        }
        if not any(values.values()):
            continue
        if len(cleaned) >= MAX_COMPANIONS:
            raise SessionError(f"同一世帯で異動する人は {MAX_COMPANIONS} 人までです")
        if not values["shi"] or not values["birth_date"]:
            raise SessionError(f"異動者 {index}: 氏と生年月日を入力してください")
        try:
            dt.date.fromisoformat(values["birth_date"])
        except ValueError:
            raise SessionError(
                f"異動者 {index}: 生年月日 {values['birth_date']!r} は日付ではありません"
            ) from None
        for key in ("shi", "mei"):
            problems = mj_problems(values[key])
            if problems:
                raise SessionError(f"異動者 {index}: {problems[0]}")
        cleaned.append(values)
    return cleaned


def session_interview(
    *,
    session: CounterSession,
    clerk: Any,
    life_events: Sequence[str],
    answers: Mapping[str, Any],
    companions: Sequence[Mapping[str, Any]] = (),
    version: int | None = None,
) -> CounterSession:
    """聞き取り: the life events and the answers; the procedures (手続ナビ) are worked out from them."""
    from .models import LifeEvent
    from .navigation import procedures_decide, questions_for

    known = set(
        LifeEvent.objects.filter(active=True, code__in=list(life_events)).values_list("code", flat=True)
    )
    unknown = [code for code in life_events if code not in known]
    if not life_events:
        raise SessionError("ライフイベントを選んでください")
    if unknown:
        raise SessionError(f"ライフイベント {', '.join(unknown)} はありません")
    questions = {question.code: question for question in questions_for(life_events=life_events)}
    clean: dict[str, Any] = {}
    for code, value in answers.items():
        question = questions.get(code)
        value = str(value).strip()
        if question is None:
            if not value:
                continue  # a question of a life event not chosen, left empty
            raise SessionError(f"聞き取り項目 {code} はこのライフイベントにありません")
        if question.kind == "yesno" and value not in ("", "yes", "no"):
            raise SessionError(f"{question.text}: 「はい」か「いいえ」を選んでください")
        if (
            question.kind == "choice"
            and value
            and value not in [c.get("value", c) if isinstance(c, dict) else c for c in question.choices]
        ):
            raise SessionError(f"{question.text}: {value!r} は選択肢にありません")
        if question.kind == "number" and value and not (value.isascii() and value.isdigit()):
            raise SessionError(f"{question.text}: 数字で入力してください")
        if value:
            clean[code] = value
    clean["companions"] = _companions_clean(companions)
    with transaction.atomic():
        locked = _clerk_step(session, clerk, version)
        if locked.state not in (S.IDENTIFIED, S.INTERVIEW, S.FORMS, S.RETURNED):
            raise SessionError(
                f"受付番号 {locked.reception_no} は「{locked.get_state_display()}」です。聞き取りはできません"
            )
        locked.life_events, locked.answers = list(dict.fromkeys(life_events)), clean
        locked.procedures = procedures_decide(
            life_events=locked.life_events, context=session_context(session=locked)
        )
        return _change(
            locked,
            actor=clerk,
            kind="interview",
            to=S.INTERVIEW,
            fields=["life_events", "answers", "procedures"],
            detail={"life_events": locked.life_events, "procedures": [p["code"] for p in locked.procedures]},
        )


def _form_codes(procedures: Sequence[Mapping[str, Any]]) -> list[str]:
    return list(
        dict.fromkeys(code for item in procedures for code in item.get("forms", ()) if code != GUIDANCE_FORM)
    )


def session_forms_prepare(
    *, session: CounterSession, clerk: Any, version: int | None = None
) -> CounterSession:
    """申請書作成: every form the procedures need, filled from the session's context. A form the clerk already
    corrected keeps the corrections while its version is the same."""
    with transaction.atomic():
        locked = _clerk_step(session, clerk, version)
        codes = _form_codes(locked.procedures)
        if not codes:
            raise SessionError("手続に申請書がありません。聞き取りを確認してください")
        context = session_context(session=locked)
        existing = {form.form_code: form for form in locked.forms.all()}
        versions = form_versions_current(codes=codes)
        created: list[SessionForm] = []
        for order, code in enumerate(codes):
            form_version = versions.get(code)
            if form_version is None:
                raise SessionError(f"様式 {code} は公開されていないか、適用期間外です")
            spec = render_source(version=form_version).spec
            kept = existing.pop(code, None)
            if kept is not None and kept.form_version == form_version.number and kept.edited_at:
                kept.order = order
                kept.save(update_fields=["order"])
                continue
            data = context_jsonable(form_prefill(spec=spec, context=context))
            values = {key: value for key, value in data.items() if value not in ("", [], False, None)}
            form = kept or SessionForm(session=locked, form_code=code)
            form.form_version, form.name, form.signing, form.order = (
                form_version.number,
                form_version.template.name,
                spec.signing,
                order,
            )
            form.data, form.prefilled, form.edited_at = data, len(values), None
            if kept is None:
                created.append(form)
            else:
                form.save()
        SessionForm.objects.bulk_create(created)
        SessionForm.objects.filter(pk__in=[form.pk for form in existing.values()]).delete()
        return _change(locked, actor=clerk, kind="forms", to=S.FORMS, detail={"forms": codes})


def session_form_save(
    *,
    session: CounterSession,
    clerk: Any,
    form_code: str,
    data: Mapping[str, Any],
    version: int | None = None,
) -> dict[str, list[str]]:
    """The clerk's corrections of one form, validated with the forms engine's rules (the same the page shows).
    Returns the problems by field; with any problem nothing is saved."""
    with transaction.atomic():
        locked = _clerk_step(session, clerk, version)
        if locked.state not in (S.FORMS, S.RETURNED):
            raise SessionError(
                f"受付番号 {locked.reception_no} は「{locked.get_state_display()}」です。申請書は直せません"
            )
        form = locked.forms.filter(form_code=form_code).first()
        if form is None:
            raise SessionError(f"様式 {form_code} はこの受付にありません")
        spec = session_form_sources([form])[form_code].spec
        editable = {field.key for field in spec.fields if field.type != "signature"}
        refused = sorted(set(data) - editable)
        if refused:
            return {key: ["この項目は窓口では入力できません"] for key in refused}
        # The whole form is checked as it will print: what is stored, with the clerk's corrections over it.
        merged = {key: value for key, value in form.data.items() if key in editable} | dict(data)
        cleaned, errors = form_data_clean([field for field in spec.fields if field.key in editable], merged)
        errors = {key: problems for key, problems in errors.items() if key.split(".")[0] in data}
        if errors:
            return errors
        form.data = {**form.data, **context_jsonable({key: cleaned[key] for key in data})}
        form.edited_at = timezone.now()
        form.save(update_fields=["data", "edited_at"])
        _change(locked, actor=clerk, kind="form_edit", detail={"form": form_code})
    return {}


def session_to_tablet(*, session: CounterSession, clerk: Any, version: int | None = None) -> CounterSession:
    """Show the forms to the resident on the counter's tablet (住民確認)."""
    with transaction.atomic():
        locked = _clerk_step(session, clerk, version)
        if not locked.forms.exists():
            raise SessionError("タブレットに送る申請書がありません")
        problems = _forms_problems(locked)
        if problems:
            raise SessionError("申請書に直すところがあります: " + "、".join(problems[:10]))
        locked.signature, locked.confirmed_at = "", None
        return _change(
            locked, actor=clerk, kind="to_tablet", to=S.CONFIRMING, fields=["signature", "confirmed_at"]
        )


def _forms_problems(session: CounterSession) -> list[str]:
    problems = []
    forms = list(session.forms.all())
    sources = session_form_sources(forms)
    for form in forms:
        spec = sources[form.form_code].spec
        fields = [field for field in spec.fields if field.type != "signature"]
        _, errors = form_data_clean(
            fields, {key: value for key, value in form.data.items() if key in {f.key for f in fields}}
        )
        problems += [f"{form.name}: {spec_label(spec, key)}" for key in errors]
    return problems


def spec_label(spec: VersionSpec, key: str) -> str:
    head = key.split(".")[0]
    return next((field.label for field in spec.fields if field.key == head), key)


# --- the resident tablet -------------------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def pairing_code_issue(*, counter: Counter, clerk: Any) -> str:
    """A six-digit code, valid for 10 minutes, that pairs one tablet with this counter."""
    code = f"{secrets.randbelow(10**6):06d}"
    counter.pairing_code_hash = _token_hash(f"{counter.pk}:{code}")
    counter.pairing_code_expires_at = timezone.now() + dt.timedelta(minutes=PAIRING_CODE_MINUTES)
    counter.pairing_failures = 0
    counter.save(update_fields=["pairing_code_hash", "pairing_code_expires_at", "pairing_failures"])
    audit_record(
        actor=clerk,
        action=AuditAction.ADMIN,
        target_type="tablet",
        target_ref=counter.code,
        detail={"kind": "pairing_code"},
    )
    return code


def tablet_pair(*, counter_code: str, code: str, label: str = "") -> tuple[TabletPairing, str]:
    """Pair a tablet with the code shown on the clerk screen. Returns the pairing and the token the tablet
    keeps (only its hash is stored). The code works once; after PAIRING_MAX_FAILURES wrong codes it is void."""
    with transaction.atomic():
        counter = Counter.objects.select_for_update().filter(code=counter_code).first()
        if counter is None or not counter.pairing_code_hash:
            valid = False
        else:
            valid = (
                counter.pairing_code_expires_at is not None
                and counter.pairing_code_expires_at > timezone.now()
                and secrets.compare_digest(
                    counter.pairing_code_hash, _token_hash(f"{counter.pk}:{code.strip()}")
                )
            )
            if not valid:
                # Guessing is bounded: after a few wrong codes the code is void and the clerk shows a new one.
                counter.pairing_failures += 1
                if counter.pairing_failures >= PAIRING_MAX_FAILURES:
                    counter.pairing_code_hash, counter.pairing_code_expires_at = "", None
                counter.save(
                    update_fields=["pairing_failures", "pairing_code_hash", "pairing_code_expires_at"]
                )
        if valid and counter is not None:
            counter.pairing_code_hash, counter.pairing_code_expires_at, counter.pairing_failures = "", None, 0
            counter.save(update_fields=["pairing_code_hash", "pairing_code_expires_at", "pairing_failures"])
            token = secrets.token_urlsafe(32)
            pairing = TabletPairing.objects.create(
                counter=counter, token_hash=_token_hash(token), label=label[:100]
            )
            audit_record(
                actor=None,
                action=AuditAction.ADMIN,
                target_type="tablet",
                target_ref=counter.code,
                detail={"kind": "paired", "tablet": pairing.pk},
            )
    if not valid:
        raise TabletRefused("ペアリングコードが正しくないか、有効期限が切れています")
    return pairing, token


def tablet_for_token(token: str) -> TabletPairing | None:
    """The live pairing of a tablet's token; None for an unknown or revoked one."""
    if not token:
        return None
    pairing = (
        TabletPairing.objects.select_related("counter")
        .filter(token_hash=_token_hash(token), revoked_at=None)
        .first()
    )
    if pairing is not None and (
        pairing.last_seen_at is None or timezone.now() - pairing.last_seen_at > dt.timedelta(minutes=1)
    ):
        TabletPairing.objects.filter(pk=pairing.pk).update(last_seen_at=timezone.now())
    return pairing


def tablet_revoke(*, pairing: TabletPairing, actor: Any) -> None:
    TabletPairing.objects.filter(pk=pairing.pk, revoked_at=None).update(revoked_at=timezone.now())
    audit_record(
        actor=actor,
        action=AuditAction.ADMIN,
        target_type="tablet",
        target_ref=pairing.counter.code,
        detail={"kind": "revoked", "tablet": pairing.pk},
    )
    push.publish_on_commit(f"counter:{pairing.counter.code}", {"type": "tablet", "revoked": pairing.pk})


def _tablet_step(session: CounterSession, pairing: TabletPairing, version: int) -> CounterSession:
    locked = _locked(session)
    revoked = TabletPairing.objects.filter(pk=pairing.pk).exclude(revoked_at=None).exists()
    if revoked or locked.counter_id != pairing.counter_id:
        raise TabletRefused("このタブレットはこの受付を表示できません")
    if version != locked.version:
        raise SessionStale("内容が更新されました。もう一度ご確認ください")
    return locked


def tablet_language(
    *, session: CounterSession, pairing: TabletPairing, language: str, version: int
) -> CounterSession:
    if language not in LANGUAGES:
        raise SessionError(f"unknown language {language!r}")
    with transaction.atomic():
        locked = _tablet_step(session, pairing, version)
        locked.language = language
        return _change(
            locked, actor=None, kind="language", fields=["language"], detail={"language": language}
        )


def tablet_confirm(
    *, session: CounterSession, pairing: TabletPairing, signature: str, version: int
) -> CounterSession:
    """The resident confirmed every form and signed (when a form is signed on the tablet)."""
    from forms_engine.schema import FieldSpec

    with transaction.atomic():
        locked = _tablet_step(session, pairing, version)
        if locked.state != S.CONFIRMING:
            raise SessionStale("この受付は確認をお願いする段階ではありません")
        needs_signature = locked.forms.filter(signing="tablet").exists()
        if needs_signature:
            _, errors = form_data_clean(
                [FieldSpec(key="signature", label="署名", type="signature", required=True)],
                {"signature": signature},
            )
            if errors:
                raise SessionError("署名: " + " ".join(errors["signature"]))
        locked.signature = signature if needs_signature else ""
        locked.confirmed_at, locked.progress = timezone.now(), Progress.CONFIRMED
        return _change(
            locked,
            actor=None,
            kind="confirm",
            to=S.OUTPUT,
            fields=["signature", "confirmed_at", "progress"],
            detail={"tablet": pairing.pk, "signed": needs_signature},
        )


# --- output ----------------------------------------------------------------------------------------------------


def session_finish(*, session: CounterSession, clerk: Any, version: int | None = None) -> CounterSession:
    """完了: print the packet and the 手続案内書 on the counter's printer and export the reception data. The
    work runs on the ``render`` queue from the session's durable state; finishing twice is refused."""
    if session.counter.terminal_id is None:
        raise SessionError(f"窓口 {session.counter.code} には印刷する端末がありません")
    with transaction.atomic():
        locked = _clerk_step(session, clerk, version)
        if locked.state != S.OUTPUT:
            raise SessionError(
                f"受付番号 {locked.reception_no} は「{locked.get_state_display()}」です。住民の確認の後に完了できます"
            )
        locked.finished_at = timezone.now()
        _change(locked, actor=clerk, kind="finish", to=S.FINISHED, fields=["finished_at"])
        transaction.on_commit(lambda: _output_dispatch(locked.pk))
    session.refresh_from_db()
    return session


def _output_dispatch(session_id: int) -> None:
    from .tasks import session_output

    try:
        session_output.delay(session_id)
    except Exception:
        logger.warning("session %s: broker unreachable, output will be redispatched", session_id)


def output_failed(session: CounterSession) -> bool:
    """The session's output (finish or reprint) was tried and failed; the clerk retries with 「もう一度印刷」."""
    return (
        session.events.filter(kind__in=OUTPUT_KINDS)
        .order_by("-at", "-id")
        .values_list("kind", flat=True)
        .first()
        == "output_failed"
    )


def sessions_output_redispatch(*, older_than: dt.timedelta = dt.timedelta(minutes=1)) -> int:
    """Send again the output of finished sessions that have no print job yet (the broker was down). An output that
    ran and failed is not retried by a machine: the clerk sees why and prints again."""
    last = (
        SessionEvent.objects.filter(session=OuterRef("pk"), kind__in=OUTPUT_KINDS)
        .order_by("-at", "-id")
        .values("kind")[:1]
    )
    stale = (
        CounterSession.objects.filter(
            state=S.FINISHED, print_job=None, finished_at__lt=timezone.now() - older_than
        )
        .exclude(forms=None)
        .annotate(last_output=Subquery(last))
        .exclude(last_output="output_failed")
        .values_list("pk", flat=True)
    )
    for pk in stale:
        _output_dispatch(pk)
    return len(stale)


INDIVIDUAL_NUMBER = "individual_number"


def _packet(session: CounterSession) -> tuple[list[tuple[Any, dict[str, Any]]], list[ExportRows]]:
    """The forms to print (each filled) and the rows to export: each form's own CSV layout, the standard layouts
    written from it (住民異動届, 転出証明書 data, 住民票の写し等交付申請書) and, after a My Number card read, the
    個人番号カード券面事項 with the individual number unsealed for the outbox (which seals it again)."""
    context = session_context(session=session)
    forms: list[tuple[Any, dict[str, Any]]] = []
    exports: list[ExportRows] = []
    session_forms = list(session.forms.all())
    sources = session_form_sources(session_forms)
    for form in session_forms:
        source = sources[form.form_code]
        values = dict(form.data)
        if form.signing == "tablet" and session.signature:
            values |= {
                field.key: session.signature for field in source.spec.fields if field.type == "signature"
            }
        filled = form_fill(spec=source.spec, context=context, values=values)
        forms.append((source, filled))
        if source.spec.csv_columns:
            header, row = render_csv_row(source, filled)
            exports.append(ExportRows(form.form_code, f"{form.form_code}@{form.form_version}", header, [row]))
        exports += _standard_rows(form.form_code, filled)
    if session.card.get("status") == "read":
        card = {**context["card"], "read_at": session.card.get("read_at", "")}
        try:
            card["individual_number"] = unseal(session.card_secret, purpose=INDIVIDUAL_NUMBER)
        except SealBroken:
            logger.warning("session %s: the sealed individual number cannot be opened", session.pk)
            card["individual_number"] = ""
        exports += _standard_rows(CARD_SOURCE, {**context, "card": card})
    if session.procedures:
        try:
            guidance = render_source(version=form_version_current(code=GUIDANCE_FORM))
        except FormVersion.DoesNotExist:
            logger.warning("session %s: no 手続案内書 is published", session.pk)
        else:
            forms.append((guidance, form_fill(spec=guidance.spec, context=context)))
    return forms, exports


def _standard_rows(source: str, context: Mapping[str, Any]) -> list[ExportRows]:
    exports = []
    for layout in standard_layouts_for(source):
        if rows := layout.rows(context):
            exports.append(ExportRows(layout.kind, layout.layout, layout.header, rows, layout.secret))
    return exports


def session_output_run(*, session_id: int) -> str:
    """Render the packet (every form, then the 手続案内書), send it to the counter's printer and put each form's
    CSV row in the outbox — in one transaction, once: a session that has its print job is left alone."""
    session = CounterSession.objects.select_related("counter__terminal", "clerk").get(pk=session_id)
    if session.print_job_id is not None or session.state != S.FINISHED:
        return "done"
    # Checked again here, not only when the clerk finished: a role or 所属 taken away since stops the print.
    if not (has_role(session.clerk, Role.CLERK) and in_scope(session.clerk, session.counter.department)):
        with transaction.atomic():
            _change(
                _locked(session), actor=None, kind="output_failed", detail={"error": "clerk not permitted"}
            )
        return "failed"
    forms, exports = _packet(session)
    try:
        packet = render_packet(forms, reception_no=session.reception_no)
    except FormRenderError as error:
        with transaction.atomic():
            locked = _locked(session)
            _change(locked, actor=None, kind="output_failed", detail={"error": str(error)[:200]})
        return "failed"
    with transaction.atomic():
        locked = _locked(session)
        if locked.print_job_id is not None:
            return "done"
        terminal = locked.counter.terminal
        if terminal is None:  # checked first: a reception that is not printed is not exported either
            _change(locked, actor=None, kind="output_failed", detail={"error": "no terminal"})
            return "failed"
        try:
            with transaction.atomic():  # all of the session's rows and its PDF, or none
                outbox_put(reception_no=locked.reception_no, exports=exports, pdf=packet.pdf)
        except (UnsafeCsvValue, ExportRefused, IntegrityError) as problem:
            _change(locked, actor=None, kind="output_failed", detail={"error": str(problem)[:200]})
            return "failed"
        job = print_job_create(
            terminal=terminal,
            title=f"申請書 {locked.reception_no}",
            pdf=packet.pdf,
            requested_by=locked.clerk,
        )
        locked.print_job, locked.progress = job, Progress.OUTPUT
        locked.form_code, locked.form_version = exports[0].kind if exports else "", None
        locked.card_secret = ""  # the outbox holds it now, sealed, until the core system acknowledges it
        _change(
            locked,
            actor=None,
            kind="output",
            fields=["print_job", "progress", "form_code", "form_version", "card_secret"],
            detail={"pages": packet.pages, "print_job": job.pk, "exports": len(exports)},
        )
        if locked.atena_no:
            audit_record(
                actor=locked.clerk,
                action=AuditAction.PRINT,
                target_type="resident",
                target_ref=locked.atena_no,
                detail={
                    "reception_no": locked.reception_no,
                    "forms": [export.kind for export in exports],
                    "print_job": job.pk,
                },
            )
    return "printed"


def print_job_changed(job: PrintJob) -> None:
    """A print job of a session was printed or failed: tell the clerk screen."""
    for session in CounterSession.objects.select_related("counter").filter(print_job=job):
        with transaction.atomic():
            locked = _locked(session)
            _change(locked, actor=None, kind="print", detail={"status": job.status})


def session_reprint(*, session: CounterSession, clerk: Any) -> CounterSession:
    """Print a finished session's packet again after the printer or the output failed (a new job)."""
    with transaction.atomic():
        locked = _locked(session)
        printer_failed = locked.print_job is not None and locked.print_job.status == "failed"
        if locked.state != S.FINISHED or not (printer_failed or output_failed(locked)):
            raise SessionError("再印刷できるのは印刷に失敗した受付です")
        locked.print_job = None
        _change(locked, actor=clerk, kind="reprint", fields=["print_job"])
        transaction.on_commit(lambda: _output_dispatch(locked.pk))
    return locked


def sessions_wipe_signatures(*, older_than: dt.timedelta | None = None) -> int:
    """Drop signatures and card data of sessions finished long enough ago (they are in the printed packet), and
    the card data of sessions opened that long ago that never finished (MADOGUCHI_SIGNATURE_RETENTION_HOURS)."""
    if older_than is None:
        older_than = dt.timedelta(hours=settings.MADOGUCHI_SIGNATURE_RETENTION_HOURS)
    cutoff = timezone.now() - older_than
    old = CounterSession.objects.filter(Q(finished_at__lt=cutoff) | Q(finished_at=None, opened_at__lt=cutoff))
    return old.exclude(signature="", card={}, card_secret="").update(signature="", card={}, card_secret="")


def sessions_erase(*, now: dt.datetime | None = None) -> int:
    """Erase what sessions opened more than MADOGUCHI_SESSION_RETENTION_DAYS ago hold of the resident: 宛名番号,
    card data, answers, signature, the return reason, every form's contents and the timeline's details. The row
    (counter, times, state, progress, procedure codes) stays for the statistics. Returns how many were erased."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.MADOGUCHI_SESSION_RETENTION_DAYS)
    erased = 0
    while True:
        with transaction.atomic():
            ids = list(
                CounterSession.objects.filter(opened_at__lt=cutoff, erased_at=None).values_list(
                    "pk", flat=True
                )[:500]
            )
            if not ids:
                return erased
            SessionForm.objects.filter(session_id__in=ids).update(data={})
            SessionEvent.objects.filter(session_id__in=ids).update(detail={})
            erased += CounterSession.objects.filter(pk__in=ids).update(
                atena_no="",
                card={},
                card_secret="",
                answers={},
                signature="",
                return_reason="",
                erased_at=now,
            )


def _session_in_reception(terminal: Terminal) -> CounterSession:
    """The session being received at the terminal's counter (the newest one a clerk works)."""
    session = (
        CounterSession.objects.select_related("counter", "clerk")
        .filter(counter__terminal=terminal, state=S.RECEPTION)
        .exclude(clerk=None)
        .order_by("-opened_at")
        .first()
    )
    if session is None:
        raise devices.EventRefused(f"no session is being received at terminal {terminal.code}")
    return session


def _qr_failed(session: CounterSession, error: str) -> dict[str, Any]:
    with transaction.atomic():
        locked = _locked(session)
        _change(locked, actor=None, kind="qr_failed", detail={"error": error[:200]})
    return {"session": session.reception_no, "status": "refused"}


def qr_event(terminal: Terminal, event: Mapping[str, Any]) -> dict[str, Any]:
    """The agent's QR scanner read a code (``qr.scanned``): it identifies the visitor of the session being
    received at the terminal's counter. A code that cannot be parsed, or that the scanner could not decode
    (``qr.failed``, with the agent's reason), is shown to the clerk on the session's timeline."""
    session = _session_in_reception(terminal)
    if event.get("type") == "qr.failed":
        return _qr_failed(session, f"QRコードを読み取れませんでした（{str(event.get('reason', ''))[:150]}）")
    try:
        session_qr(session=session, payload=str(event.get("payload", "")), clerk=session.clerk)
    except SessionError as error:
        return _qr_failed(session, str(error))
    return {"session": session.reception_no, "status": "identified"}


def session_preview_pdf(*, session: CounterSession, actor: Any) -> bytes:
    """The session's forms (and 手続案内書) as they stand now, for the clerk's screen; audited as a view."""
    if not session.forms.exists():
        raise SessionError("まだ申請書がありません")
    forms, _ = _packet(session)
    pdf = render_packet(forms, reception_no=session.reception_no).pdf
    if session.atena_no:
        audit_record(
            actor=actor,
            action=AuditAction.VIEW,
            target_type="resident",
            target_ref=session.atena_no,
            detail={
                "reception_no": session.reception_no,
                "forms": [form.form_code for form in session.forms.all()],
            },
        )
    return pdf
