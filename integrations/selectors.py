"""Reads of the resident mirror, for the other apps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from .models import Resident
from .search_keys import address_key, kana_key, name_key


def resident_get(*, atena_no: str) -> Resident | None:
    """The resident with this 宛名番号, or None."""
    return Resident.objects.filter(atena_no=atena_no).first()


def residents_matching(
    *,
    atena_no: str = "",
    kana: str = "",
    name: str = "",
    birth_date: dt.date | None = None,
    address: str = "",
) -> QuerySet[Resident]:
    """Residents matching every criterion given: 宛名番号 exactly; フリガナ or name by prefix of the folded key
    (so 高橋 finds 髙橋 and ﾀｶﾊｼ finds タカハシ); birth date; an address fragment anywhere in the folded address.
    With no criterion, nothing (a search never lists the whole city)."""
    query = Q()
    if atena_no:
        query &= Q(atena_no=atena_no)
    if kana and (key := kana_key(kana)):
        query &= Q(kana_key__startswith=key)
    if name and (key := name_key(name)):
        query &= Q(kanji_key__startswith=key)
    if birth_date:
        query &= Q(birth_date=birth_date)
    if address and (key := address_key(address)):
        query &= Q(address_key__contains=key)
    if not query:
        return Resident.objects.none()
    return Resident.objects.filter(query)


def households_of(*, setai_nos: Iterable[str]) -> dict[str, list[Resident]]:
    """The current members (住民状態 1) of these households, 世帯主 first, in one query."""
    members: dict[str, list[Resident]] = {}
    for person in Resident.objects.filter(setai_no__in=set(setai_nos), juumin_jotai="1").order_by(
        *_HOUSEHOLD_ORDER
    ):
        members.setdefault(person.setai_no, []).append(person)
    return members


def household_members(*, resident: Resident) -> QuerySet[Resident]:
    """``resident`` and everyone in their household who is a current resident (住民状態 1), 世帯主 first."""
    current = Q(juumin_jotai="1") | Q(atena_no=resident.atena_no)
    return Resident.objects.filter(current, setai_no=resident.setai_no).order_by(*_HOUSEHOLD_ORDER)


_HOUSEHOLD_ORDER = (
    Case(When(zokugara="世帯主", then=Value(0)), default=Value(1), output_field=IntegerField()),
    "birth_date",
    "atena_no",
)
