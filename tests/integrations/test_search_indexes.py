"""On PostgreSQL the search indexes exist, and a snapshot swap keeps them under their own names."""

import pytest
from django.db import connection

from integrations.mirror import SnapshotMerge
from integrations.models import AddressKey, Resident
from tests.conftest import SMALL_CITY, import_file
from tests.factories import juki_csv

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL index strategy"),
]

EXPECTED = {
    "resident_kana_order",
    "resident_kanji_order",
    "resident_address_key",
    "integrations_resident_pkey",
    "addresskey_trgm",
    "integrations_addresskey_pkey",
}


def _indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename IN ('integrations_resident', 'integrations_addresskey')"
        )
        return dict(cursor.fetchall())


def _plan(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # the tables here are tiny; ask what an index can do
        cursor.execute(f"EXPLAIN {sql}")
        return " ".join(row[0] for row in cursor.fetchall())


def _statistics_targets() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, attstattarget FROM pg_attribute "
            "WHERE attrelid = 'integrations_resident'::regclass AND attstattarget > 0"
        )
        return dict(cursor.fetchall())


def test_search_indexes_survive_a_snapshot_swap(local_storage, monkeypatch) -> None:
    monkeypatch.setattr(SnapshotMerge, "MIN_CHANGED_ALLOWED", -1)
    monkeypatch.setattr(SnapshotMerge, "MAX_CHANGED_SHARE", -1)  # every snapshot rebuilt and swapped in
    before = _indexes()
    assert before.keys() >= EXPECTED
    assert {name for name in before if "addresskey" in name} == {
        "addresskey_trgm",
        "integrations_addresskey_pkey",
    }
    import_file(local_storage, juki_csv(SMALL_CITY))
    import_file(local_storage, juki_csv(SMALL_CITY[:2]), name="JUKI_20261102090000_000001_FULL.csv")
    assert _indexes() == before
    assert _statistics_targets() == {"kana_key": 1000, "kanji_key": 1000}
    assert set(AddressKey.objects.values_list("key", flat=True)) == set(
        Resident.objects.values_list("address_key", flat=True)
    )
    plan = _plan(
        "SELECT atena_no FROM integrations_resident WHERE kana_key::text LIKE 'タカ%' ORDER BY kana_key, atena_no "
        "LIMIT 20"
    )
    assert "resident_kana_order" in plan and "Sort" not in plan
    with connection.cursor() as cursor:  # tiny tables again: no whole-index walks either
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_indexonlyscan = off")
    plan = _plan(
        "SELECT atena_no FROM integrations_resident WHERE address_key IN "
        "(SELECT key FROM integrations_addresskey WHERE key LIKE '%窓口市%') LIMIT 500"
    )
    assert "Bitmap Index Scan on addresskey_trgm" in plan, (
        plan
    )  # (two residents: how they are joined is moot)
