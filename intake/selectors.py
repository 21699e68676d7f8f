"""Identifying the resident: search over the core system's mirror (R-I2)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.core.paginator import Page, Paginator

from integrations import selectors as mirror
from integrations.models import Resident
from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record


class SearchKind(StrEnum):
    ATENA_NO = "atena_no"
    KANA = "kana"


@dataclass(frozen=True)
class ResidentSearch:
    kind: SearchKind
    query: str


def resident_search(
    *, actor: Any, search: ResidentSearch, page: int | str = 1, per_page: int = 20
) -> Page[Resident]:
    """Search residents and audit-log the search (who, what kind of query; never the query text)."""
    query = search.query.strip()
    if search.kind is SearchKind.ATENA_NO:
        results = mirror.residents_by_atena_no(atena_no=query)
    else:
        results = mirror.residents_by_kana(kana=query)
    paged = Paginator(results.order_by("kana_key", "atena_no"), per_page).get_page(page)
    audit_record(
        actor=actor,
        action=AuditAction.SEARCH,
        target_type="resident",
        detail={"kind": search.kind.value, "results": paged.paginator.count},
    )
    return paged
