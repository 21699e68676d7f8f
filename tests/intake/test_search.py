"""Resident search as clerks type it: 宛名番号, kana, kanji with 異体字, birth dates in 和暦, address fragments."""

import pytest

from intake.selectors import CappedPaginator, ResidentQuery, SearchInvalid, resident_search
from madoguchi.audit.models import AuditAction, AuditEvent
from tests.conftest import import_file
from tests.factories import atena, juki_csv, juki_row

pytestmark = pytest.mark.django_db


def found(clerk, **typed: str) -> set[str]:
    return {hit.resident.atena_no for hit in resident_search(actor=clerk, query=ResidentQuery(**typed))}


def test_by_atena_no(small_city, clerk) -> None:
    assert found(clerk, atena_no=atena(2)) == {atena(2)}


@pytest.mark.parametrize("typed", ["タカハシ", "たかはし", "ﾀｶﾊｼ", "タカ", "タカハシ ケン"])
def test_by_kana_tolerates_width_script_and_spaces(small_city, clerk, typed) -> None:
    assert atena(3) in found(clerk, name=typed)


@pytest.mark.parametrize("typed", ["高橋", "髙橋", "高橋 健", "高橋　健", "高"])
def test_by_kanji_with_itaiji_folded(small_city, clerk, typed) -> None:
    assert atena(3) in found(clerk, name=typed)


def test_a_name_with_a_variation_selector_is_found_by_its_plain_form(small_city, clerk) -> None:
    assert found(clerk, name="葛西") == {atena(1)}
    assert found(clerk, name="吉田") == {atena(2)}  # 𠮷田


@pytest.mark.parametrize(
    "typed", ["S55.1.1", "s55.1.1", "昭和55年1月1日", "3550101", "1980-01-01", "Ｓ５５．１．１"]
)
def test_by_birth_date_as_typed(small_city, clerk, typed) -> None:
    assert found(clerk, birth=typed) == {atena(1), atena(2), atena(3)}


def test_by_address_fragment_and_combined(small_city, clerk) -> None:
    assert found(clerk, address="葛西町") == {atena(1)}
    assert found(clerk, address="メゾン窓口") == {atena(1)}  # the 方書 too
    assert found(clerk, name="タカハシ", birth="H27.6.1") == {atena(4)}


def test_results_carry_their_household(small_city, clerk) -> None:
    (hit,) = resident_search(actor=clerk, query=ResidentQuery(name="タカハシ ユイ"))
    assert [m.atena_no for m in hit.household] == [atena(3), atena(4)]  # 世帯主 first


def test_nothing_found_and_bad_input(small_city, clerk) -> None:
    assert found(clerk, name="ワタナベ") == set()
    with pytest.raises(SearchInvalid, match="検索条件"):
        resident_search(actor=clerk, query=ResidentQuery())
    with pytest.raises(SearchInvalid, match="生年月日"):
        resident_search(actor=clerk, query=ResidentQuery(birth="H32.13.45"))


@pytest.mark.parametrize("hostile", ["%", "_", "' OR 1=1 --", "\\", "タ%カ", "ワ\x00%"])
def test_hostile_text_is_only_text(small_city, clerk, hostile) -> None:
    assert found(clerk, name=hostile) == set()
    assert found(clerk, address=hostile) == set()


def test_results_are_paginated_and_counted_only_as_far_as_needed(local_storage, clerk) -> None:
    import_file(local_storage, juki_csv([juki_row(n, 氏カナ="ヤマダ") for n in range(1, 46)]))
    pages = [resident_search(actor=clerk, query=ResidentQuery(name="ヤマダ"), page=p) for p in (1, 2, 3)]
    assert [len(p.object_list) for p in pages] == [20, 20, 5]
    assert [p.has_next() for p in pages] == [True, True, False]
    paginators = [p.paginator for p in pages]
    assert all(isinstance(p, CappedPaginator) for p in paginators)
    counts = [(p.count, p.capped) for p in paginators if isinstance(p, CappedPaginator)]  # type: ignore[attr-defined]
    assert counts == [(21, True), (41, True), (45, False)]
    seen = [hit.resident.atena_no for p in pages for hit in p.object_list]
    assert len(set(seen)) == 45  # a stable order: no one twice, no one missing


def test_every_search_is_audited_without_the_query_text(small_city, clerk) -> None:
    resident_search(actor=clerk, query=ResidentQuery(name="ヨシダ", birth="S55.1.1"))
    event = AuditEvent.objects.get(action=AuditAction.SEARCH)
    assert event.actor == clerk
    assert event.detail == {"kinds": ["name", "birth"], "results": 1}
    assert "ヨシダ" not in str(event.detail) and "55" not in str(event.detail)


def test_a_moved_out_member_is_not_in_the_household_but_still_in_their_own(local_storage) -> None:
    from integrations import selectors as mirror

    setai = juki_row(1)["世帯番号"]
    import_file(local_storage, juki_csv([juki_row(1), juki_row(2, 世帯番号=setai, 続柄="子", 住民状態="2")]))
    head, moved = mirror.resident_get(atena_no=atena(1)), mirror.resident_get(atena_no=atena(2))
    assert head is not None and moved is not None
    assert [r.atena_no for r in mirror.household_members(resident=head)] == [atena(1)]
    assert [r.atena_no for r in mirror.household_members(resident=moved)] == [atena(1), atena(2)]
