"""Reads of the counters app, including the form context built from the resident mirror."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from integrations import selectors as mirror
from integrations.models import Resident
from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record

from .models import Counter, CounterSession, SessionState


def counters_all() -> QuerySet[Counter]:
    return Counter.objects.select_related("terminal").order_by("code")


def counter_sessions_open(*, clerk: Any) -> QuerySet[CounterSession]:
    return (
        CounterSession.objects.select_related("counter")
        .filter(clerk=clerk)
        .exclude(state=SessionState.FINISHED)
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
        "session": {
            "reception_no": reception_no,
            "event": event,
            "counter": counter.code if counter else "",
            "counter_name": counter.name if counter else "",
            "clerk": "",
        },
        "resident": person_context(resident),
        "household": [person_context(member) for member in mirror.household_members(resident=resident)],
        "card": {},
        "answers": {},
        "procedures": [],
    }


def resident_preview_context(*, ref: str, actor: Any) -> dict[str, Any] | None:
    """The form context of the resident ``ref`` (宛名番号) for a form admin's preview; audited as a view."""
    resident = mirror.resident_get(atena_no=ref.strip())
    if resident is None:
        return None
    audit_record(
        actor=actor,
        action=AuditAction.VIEW,
        target_type="resident",
        target_ref=resident.atena_no,
        detail={"purpose": "form preview"},
    )
    return form_context(resident=resident, reception_no="PREVIEW")
