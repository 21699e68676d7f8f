"""Reads of the counters app, including the form context built from the resident mirror."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q, QuerySet
from django.utils import timezone

from forms_engine.bindings import CARD_KEYS, PERSON_KEYS, PROCEDURE_KEYS
from forms_engine.models import FormVersion
from forms_engine.rendering import RenderSource
from forms_engine.selectors import render_source
from integrations import selectors as mirror
from integrations.models import Resident
from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record

from .models import (
    Counter,
    CounterSession,
    LifeEvent,
    SessionForm,
    SessionState,
    TabletPairing,
    Ticket,
    TicketStatus,
)

ENDED = (SessionState.FINISHED,)
PERSON_FIELDS = sorted(PERSON_KEYS)
# The states in which the counter's tablet shows the session to the resident.
TABLET_STATES = (SessionState.CONFIRMING,)


def counters_all() -> QuerySet[Counter]:
    return Counter.objects.select_related("terminal", "group").order_by("code")


def counter_sessions_open(*, clerk: Any) -> QuerySet[CounterSession]:
    return CounterSession.objects.select_related("counter").filter(clerk=clerk).exclude(state__in=ENDED)


def counter_sessions_waiting(*, counter: Counter) -> QuerySet[CounterSession]:
    """Sessions at this counter that no clerk works now: handed over from another counter, or released."""
    return (
        CounterSession.objects.select_related("counter")
        .filter(counter=counter, clerk=None)
        .exclude(state__in=ENDED)
        .order_by("opened_at")
    )


def counter_sessions_today(*, counter: Counter) -> QuerySet[CounterSession]:
    return CounterSession.objects.filter(counter=counter, opened_at__date=timezone.localdate()).order_by(
        "-opened_at"
    )


def tickets_waiting(*, counter: Counter) -> QuerySet[Ticket]:
    """Today's waiting tickets of the counter's group, oldest first."""
    if counter.group_id is None:
        return Ticket.objects.none()
    return Ticket.objects.select_related("group").filter(
        group_id=counter.group_id, day=timezone.localdate(), status=TicketStatus.WAITING
    )


def session_forms(*, session: CounterSession) -> QuerySet[SessionForm]:
    return session.forms.all()


def session_form_sources(forms: Sequence[SessionForm]) -> dict[str, RenderSource]:
    """Each session form's render source (spec, layout) at the version it uses, keyed by form code: one query."""
    if not forms:
        return {}
    wanted = Q()
    for form in forms:
        wanted |= Q(template__code=form.form_code, number=form.form_version)
    versions = {
        (version.template.code, version.number): version
        for version in FormVersion.objects.select_related("template").filter(wanted)
    }
    return {
        form.form_code: render_source(version=versions[(form.form_code, form.form_version)]) for form in forms
    }


def tablet_session(*, pairing: TabletPairing) -> CounterSession | None:
    """The one session the paired tablet may show: its counter's session waiting for the resident (住民確認),
    or one asking the resident for the card PIN, or reading the card with it. Nothing else, ever."""
    return (
        CounterSession.objects.select_related("counter")
        .filter(counter_id=pairing.counter_id)
        .exclude(state__in=ENDED)
        .filter(
            models.Q(state__in=TABLET_STATES)
            | models.Q(card__pin_requested=True)
            # The card read the resident's PIN started, until it succeeds (the session moves on) or the clerk
            # asks again: the tablet shows "reading" and a failure with the tries left.
            | models.Q(state=SessionState.RECEPTION, card__status__in=["reading", "failed"])
        )
        .order_by("-state_changed_at", "-opened_at")
        .first()
    )


def session_resident_view(*, session: CounterSession, actor: Any) -> tuple[Resident | None, list[Resident]]:
    """The identified resident and their household for the clerk screen; every display is audit-logged."""
    if not session.atena_no:
        return None, []
    resident = mirror.resident_get(atena_no=session.atena_no)
    if resident is None:
        return None, []
    household = list(mirror.household_members(resident=resident))
    audit_record(
        actor=actor,
        action=AuditAction.VIEW,
        target_type="resident",
        target_ref=resident.atena_no,
        detail={"reception_no": session.reception_no, "household": len(household)},
    )
    return resident, household


def person_context(resident: Resident) -> dict[str, Any]:
    """A resident as the plain dict the forms engine renders (documented in docs/forms.md)."""
    return {
        "atena_no": resident.atena_no,
        "setai_no": resident.setai_no,
        "shi": resident.shi,
        "mei": resident.mei,
        "shimei": f"{resident.shi}　{resident.mei}".strip("　") or resident.eiji_shimei,
        "shi_kana": resident.shi_kana,
        "mei_kana": resident.mei_kana,
        "kana": f"{resident.shi_kana}　{resident.mei_kana}".strip("　"),
        "eiji_shimei": resident.eiji_shimei,
        "birth_date": resident.birth_date,
        "sex": {"1": "男", "2": "女"}.get(resident.sex, ""),
        "zokugara": resident.zokugara,
        "setainushi_shimei": resident.setainushi_shimei,
        "postal_code": resident.postal_code,
        "address": resident.address,
        "katagaki": resident.katagaki,
        "honseki": resident.honseki,
        "hittousha": resident.hittousha,
        "previous_address": resident.previous_address,
        "foreign": resident.juumin_shubetsu == "2",
    }


def person_from_card(card: dict[str, Any]) -> dict[str, Any]:
    """The person read from an ID card as a form-context person, for a visitor the mirror does not hold yet
    (e.g. moving in from another city): the card's address is where they come from."""
    name = str(card.get("shimei", ""))
    shi, _, mei = name.partition("　") if "　" in name else name.partition(" ")
    try:
        birth = dt.date.fromisoformat(str(card.get("birth_date", "")))
    except ValueError:
        birth = None
    return {
        **dict.fromkeys(PERSON_FIELDS, ""),
        "shi": shi,
        "mei": mei,
        "shimei": name,
        "birth_date": birth,
        "sex": str(card.get("sex", "")),
        "zokugara": "世帯主",
        "address": "",
        "previous_address": str(card.get("address", "")),
        "foreign": False,
    }


def person_from_companion(row: dict[str, Any]) -> dict[str, Any]:
    """A household member the clerk entered (moving in together), as a form-context person."""
    try:
        birth = dt.date.fromisoformat(str(row.get("birth_date", "")))
    except ValueError:
        birth = None
    shi, mei = str(row.get("shi", "")), str(row.get("mei", ""))
    return {
        **dict.fromkeys(PERSON_FIELDS, ""),
        "shi": shi,
        "mei": mei,
        "shimei": f"{shi}　{mei}".strip("　"),
        "shi_kana": str(row.get("shi_kana", "")),
        "mei_kana": str(row.get("mei_kana", "")),
        "kana": f"{row.get('shi_kana', '')}　{row.get('mei_kana', '')}".strip("　"),
        "birth_date": birth,
        "sex": {"1": "男", "2": "女"}.get(str(row.get("sex", "")), ""),
        "zokugara": str(row.get("zokugara", "")),
        "foreign": False,
    }


def session_context(*, session: CounterSession, today: dt.date | None = None) -> dict[str, Any]:
    """The form context of a session: the identified resident (from the mirror, or from the card for a visitor
    the mirror does not hold), the household with the members moving in together, the card's basic data, the
    interview's answers and the procedures worked out. Not audited: callers that show it audit the view."""
    resident = mirror.resident_get(atena_no=session.atena_no) if session.atena_no else None
    if resident is not None:
        context = form_context(
            resident=resident, reception_no=session.reception_no, counter=session.counter, today=today
        )
    else:
        person = person_from_card(session.card)
        context = {
            "city": {"name": settings.MADOGUCHI_CITY_NAME},
            "today": today or timezone.localdate(),
            "session": _session_keys(session.reception_no, session.counter),
            "resident": person,
            "household": [person],
        }
    context["household"] = [
        *context["household"],
        *(person_from_companion(row) for row in session.answers.get("companions", [])),
    ]
    names = dict(LifeEvent.objects.filter(code__in=session.life_events).values_list("code", "name"))
    context["session"]["event"] = "、".join(names.get(code, code) for code in session.life_events)
    context["session"]["clerk"] = ""
    context["card"] = {key: session.card.get(key, "") for key in CARD_KEYS}
    context["answers"] = {key: value for key, value in session.answers.items() if key != "companions"}
    context["procedures"] = [
        {
            **{key: item.get(key, "") for key in PROCEDURE_KEYS},
            "counter": item.get("counter_group_name", ""),
        }
        for item in session.procedures
    ]
    return context


def _session_keys(reception_no: str, counter: Counter | None) -> dict[str, Any]:
    return {
        "reception_no": reception_no,
        "event": "",
        "counter": counter.code if counter else "",
        "counter_name": counter.name if counter else "",
        "clerk": "",
    }


def form_context(
    *,
    resident: Resident,
    reception_no: str,
    event: str = "",
    counter: Counter | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """The whole context of a form for one resident (documented in docs/forms.md): the person, their household,
    the session, today. Card data and interview answers come with the tablet and the card readers."""
    return {
        "city": {"name": settings.MADOGUCHI_CITY_NAME},
        "today": today or timezone.localdate(),
        "session": {**_session_keys(reception_no, counter), "event": event},
        "resident": person_context(resident),
        "household": [person_context(member) for member in mirror.household_members(resident=resident)],
        "card": {},
        "answers": {},
        "procedures": [],
    }


def resident_context_viewed(
    *, atena_no: str, actor: Any, purpose: str, reception_no: str
) -> dict[str, Any] | None:
    """The form context of the resident ``atena_no`` for a person's screen, audited as a view with its purpose;
    None when there is no such resident."""
    resident = mirror.resident_get(atena_no=atena_no.strip())
    if resident is None:
        return None
    audit_record(
        actor=actor,
        action=AuditAction.VIEW,
        target_type="resident",
        target_ref=resident.atena_no,
        detail={"purpose": purpose},
    )
    return form_context(resident=resident, reception_no=reception_no)


def resident_preview_context(*, ref: str, actor: Any) -> dict[str, Any] | None:
    """The form context of the resident ``ref`` (宛名番号) for a form admin's preview; audited as a view."""
    return resident_context_viewed(atena_no=ref, actor=actor, purpose="form preview", reception_no="PREVIEW")
