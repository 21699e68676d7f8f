import pytest

from intake.selectors import ResidentSearch, SearchKind, resident_search
from madoguchi.audit.models import AuditAction, AuditEvent
from tests.factories import atena

pytestmark = pytest.mark.django_db


def test_by_atena_no(small_city, clerk) -> None:
    page = resident_search(actor=clerk, search=ResidentSearch(kind=SearchKind.ATENA_NO, query=atena(2)))
    assert [r.atena_no for r in page] == [atena(2)]


@pytest.mark.parametrize("query", ["タカハシ", "たかはし", "ﾀｶﾊｼ", "タカ"])
def test_by_kana_tolerates_width_and_script(small_city, clerk, query) -> None:
    page = resident_search(actor=clerk, search=ResidentSearch(kind=SearchKind.KANA, query=query))
    assert {r.atena_no for r in page} == {atena(3), atena(4)}


def test_nothing_found(small_city, clerk) -> None:
    page = resident_search(actor=clerk, search=ResidentSearch(kind=SearchKind.KANA, query="ワタナベ"))
    assert page.paginator.count == 0


def test_every_search_is_audited_without_the_query_text(small_city, clerk) -> None:
    resident_search(actor=clerk, search=ResidentSearch(kind=SearchKind.KANA, query="ヨシダ"))
    event = AuditEvent.objects.get(action=AuditAction.SEARCH)
    assert event.actor == clerk
    assert event.detail == {"kind": "kana", "results": 1}
    assert "ヨシダ" not in str(event.detail)


def test_a_moved_out_member_is_not_in_the_household_but_still_in_their_own(local_storage) -> None:
    from integrations import selectors as mirror
    from tests.conftest import import_file
    from tests.factories import juki_csv, juki_row

    setai = juki_row(1)["世帯番号"]
    import_file(local_storage, juki_csv([juki_row(1), juki_row(2, 世帯番号=setai, 続柄="子", 住民状態="2")]))
    head, moved = mirror.resident_get(atena_no=atena(1)), mirror.resident_get(atena_no=atena(2))
    assert head is not None and moved is not None
    assert [r.atena_no for r in mirror.household_members(resident=head)] == [atena(1)]
    assert [r.atena_no for r in mirror.household_members(resident=moved)] == [atena(1), atena(2)]
