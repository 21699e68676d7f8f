"""Reads of the resident mirror, for the other apps."""

from __future__ import annotations

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from madoguchi.moji.kana import kana_search_key

from .models import Resident


def resident_get(*, atena_no: str) -> Resident | None:
    """The resident with this 宛名番号, or None."""
    return Resident.objects.filter(atena_no=atena_no).first()


def residents_by_atena_no(*, atena_no: str) -> QuerySet[Resident]:
    return Resident.objects.filter(atena_no=atena_no)


def residents_by_kana(*, kana: str) -> QuerySet[Resident]:
    """Residents whose folded フリガナ starts with the folded query (width, small kana, ー and spaces ignored)."""
    key = kana_search_key(kana)
    if not key:
        return Resident.objects.none()
    return Resident.objects.filter(kana_key__startswith=key)


def household_members(*, resident: Resident) -> QuerySet[Resident]:
    """``resident`` and everyone in their household who is a current resident (住民状態 1), 世帯主 first."""
    head_first = Case(When(zokugara="世帯主", then=Value(0)), default=Value(1), output_field=IntegerField())
    current = Q(juumin_jotai="1") | Q(atena_no=resident.atena_no)
    return Resident.objects.filter(current, setai_no=resident.setai_no).order_by(
        head_first, "birth_date", "atena_no"
    )
