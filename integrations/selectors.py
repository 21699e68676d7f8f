"""Reads of the resident mirror, for the other apps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import Case, CharField, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Concat

from .models import AddressKey, Resident
from .search_keys import address_key, kana_key, name_key

ADDRESS_CANDIDATES = 100


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
    """Residents matching every criterion given, in a stable order: 宛名番号 exactly; フリガナ or name by prefix
    of the folded key (so 高橋 finds 髙橋 and ﾀｶﾊｼ finds タカハシ); birth date; an address fragment anywhere in
    the folded address. With no criterion, nothing (a search never lists the whole city).

    The order follows the name key searched, so on PostgreSQL the (key, 宛名番号) index serves the prefix and the order
    at once and a page costs the same however many match. Without a name, the first ADDRESS_CANDIDATES matches
    found (in no order, so the database stops as soon as it has them) are sorted: a broad fragment such as 本町
    costs the same as a rare one, and no mis-estimate can make the planner walk a name index through millions of
    rows. Narrowing the search (a name, a birth date) finds the rest. An address fragment is looked for in the
    dictionary of distinct addresses (AddressKey: on PostgreSQL its trigram index), whose matches lead to the
    residents through the index on their key, so the search stops once it has enough."""
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
        # The fragment is looked for among the distinct addresses (AddressKey), then residents by their key.
        query &= Q(address_key__in=address_keys_containing(key).values("key"))
    if not query:
        return Resident.objects.none()
    results = Resident.objects.filter(query)
    if kana or name:
        key = "kana_key" if kana else "kanji_key"
        # With a birth date (about 100 people a day even at 3.8 million), that index is the way in: ordering by
        # an expression keeps the planner from walking the name index instead on a poor prefix estimate.
        return results.order_by(Concat(key, Value("")) if birth_date else key, "atena_no")
    candidates = _address_candidates(results)
    return Resident.objects.filter(atena_no__in=candidates).order_by("kana_key", "atena_no")


def _address_candidates(results: QuerySet[Resident]) -> list[str]:
    """The first ADDRESS_CANDIDATES 宛名番号 of ``results`` found, in no order (the model's default order would make
    the database find and sort every match first)."""
    return list(results.order_by().values_list("atena_no", flat=True)[:ADDRESS_CANDIDATES])


def _shared_prefix(first: str, last: str) -> str:
    """What the two strings begin with alike (of the least and greatest key: what every key begins with)."""
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


def address_keys_containing(fragment: str) -> QuerySet[AddressKey]:
    """The distinct address keys that contain ``fragment`` (folded).

    Every key starts with what all addresses share — the city's name, 窓口市 or 香川県高松市 — and the trigram index
    would gather the whole dictionary for those trigrams before it could cut a page. So the index is asked only for
    the part of the fragment after its longest beginning that occurs in that shared prefix (口市青葉四 → 青葉四),
    and the whole fragment is checked on the few keys that gives (a filter no index answers). The result is the
    same either way; only the work differs. A fragment inside the shared prefix matches every key."""
    keys = AddressKey.objects.all()
    first = keys.order_by("key").values_list("key", flat=True).first()
    last = keys.order_by("-key").values_list("key", flat=True).first()
    shared = _shared_prefix(first or "", last or "")
    if shared and fragment in shared:
        return keys
    start = max((n for n in range(1, len(fragment) + 1) if fragment[:n] in shared), default=0)
    rest = fragment[start:]
    if start and len(rest) >= 3:  # a trigram at least, or the index cannot help
        # The whole fragment on an expression the index does not cover: checked on the rows the index gives, and
        # estimated as rare, so the planner takes the index rather than scanning the dictionary for early matches.
        return (
            keys.filter(key__contains=rest)
            .annotate(whole=Concat("key", Value(""), output_field=CharField()))
            .filter(whole__contains=fragment)
        )
    return keys.filter(key__contains=fragment)


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
