"""Identifying the resident: search over the core system's mirror as clerks type it (R-I2)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property

from integrations import selectors as mirror
from integrations.models import Resident
from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record
from madoguchi.moji.wareki import parse_birth_date

_KANA_ONLY = re.compile(r"^[\u3041-\u3096\u309d\u309e\u30a1-\u30fa\u30fc\u30fd\u30fe\s・･]+$")


if TYPE_CHECKING:
    _ResidentPaginator = Paginator[Resident]
else:
    _ResidentPaginator = Paginator  # Django's classes are generic for the type checker only


class CappedPaginator(_ResidentPaginator):
    """Counts matches only up to one beyond the page asked for: enough to know whether there is a next page.
    A clerk needs "more than 20: narrow it down", and counting every ヤマダ of a 3.8-million city would cost
    more than the search itself. ``capped`` says the count is a lower bound."""

    def __init__(self, object_list: QuerySet[Resident], per_page: int, *, page: int | str) -> None:
        super().__init__(object_list, per_page)
        try:
            self._upto = max(1, int(page)) * per_page + 1
        except (TypeError, ValueError):
            self._upto = per_page + 1

    @cached_property
    def count(self) -> int:
        return cast(QuerySet[Resident], self.object_list).order_by()[: self._upto].count()

    @property
    def capped(self) -> bool:
        return self.count >= self._upto


class SearchInvalid(ValueError):
    """What the clerk typed cannot be searched; the message says why, in the clerk's terms."""


@dataclass(frozen=True)
class ResidentQuery:
    """A search as typed at the counter. ``name`` is kana or kanji (or the alphabet), told apart by its letters;
    ``birth`` any form clerks type (S55.1.1, 昭和55年1月1日, 3550101, 1980-01-01 …)."""

    atena_no: str = ""
    name: str = ""
    birth: str = ""
    address: str = ""

    def kinds(self) -> list[str]:
        """Which criteria were used — what the audit log records, never the text itself."""
        used = {"atena_no": self.atena_no, "name": self.name, "birth": self.birth, "address": self.address}
        return [kind for kind, value in used.items() if _typed(value)]


@dataclass(frozen=True)
class ResidentHit:
    resident: Resident
    household: list[Resident] = field(default_factory=list)


def _typed(text: str) -> str:
    """What the clerk typed, without control characters (a NUL would end a LIKE pattern early)."""
    return "".join(c for c in text if unicodedata.category(c) != "Cc").strip()


def _is_kana(text: str) -> bool:
    return bool(_KANA_ONLY.match(unicodedata.normalize("NFKC", text)))


def resident_search(
    *, actor: Any, query: ResidentQuery, page: int | str = 1, per_page: int = 20
) -> Page[ResidentHit]:
    """Search residents by every criterion given, each hit with its household; audit-logged (who, which kinds of
    criteria, how many results — never the query text). Raises SearchInvalid for an empty search or a birth date
    that cannot be read."""
    if not query.kinds():
        raise SearchInvalid("検索条件を入力してください。")
    birth = _typed(query.birth)
    try:
        birth_date = parse_birth_date(birth) if birth else None
    except ValueError as error:
        raise SearchInvalid(
            f"生年月日「{birth}」を日付として読めません。例: S55.1.1、昭和55年1月1日、3550101、1980-01-01（{error}）"
        ) from error
    name = _typed(query.name)
    results = mirror.residents_matching(
        atena_no=_typed(query.atena_no),
        kana=name if name and _is_kana(name) else "",
        name=name if name and not _is_kana(name) else "",
        birth_date=birth_date,
        address=_typed(query.address),
    )
    paged = CappedPaginator(results, per_page, page=page).get_page(page)
    residents = list(paged.object_list)
    households = mirror.households_of(setai_nos=(r.setai_no for r in residents))
    hits: list[ResidentHit] = [ResidentHit(r, households.get(r.setai_no, [])) for r in residents]
    audit_record(actor=actor, action=AuditAction.SEARCH, target_type="resident",
                 detail={"kinds": query.kinds(), "results": paged.paginator.count})  # fmt: skip
    return Page(hits, paged.number, paged.paginator)  # type: ignore[arg-type]
