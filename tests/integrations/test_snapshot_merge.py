"""A snapshot applied to a populated mirror as the difference it makes (integrations.mirror.SnapshotMerge):
the result is exactly what reading the whole file gives, unchanged residents are not written again, and
whatever the merge cannot judge — a bad line, a duplicate, a changed rule — goes to the full import."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.db import connection

from integrations.juki_import import ResidentFileRejected
from integrations.layouts import JUKI_V1_COLUMNS
from integrations.mirror import SnapshotMerge
from integrations.models import AddressKey, ImportRun, Resident
from integrations.storage import LocalFolderStorage
from tests.conftest import import_file
from tests.factories import atena, juki_csv, juki_row

pytestmark = pytest.mark.django_db

FIRST = "JUKI_20261101090000_000001_FULL.csv"
NEXT = "JUKI_20261102090000_000001_FULL.csv"
CITY = [juki_row(n, 名=f"太郎{n}", 住所=f"窓口市本町{n}番") for n in range(1, 41)]
MERGED = "resident snapshot read in full"


def _table() -> list[tuple[Any, ...]]:
    """The whole mirror, every stored column (the digest included), as a comparable list; and the address-key
    dictionary must be exactly the mirror's distinct address keys."""
    fields = [f.attname for f in Resident._meta.concrete_fields]
    assert set(AddressKey.objects.values_list("key", flat=True)) == set(
        Resident.objects.values_list("address_key", flat=True)
    ), "the address-key dictionary is out of step with the mirror"
    return list(Resident.objects.order_by("atena_no").values_list(*fields))


def _next_city() -> list[dict[str, str]]:
    """The city a day later: 3 moved within the city, 5 and 6 moved away, 41 and 42 moved in, 7 got married."""
    rows = [dict(row) for row in CITY if row["宛名番号"] not in {atena(5), atena(6)}]
    for row in rows:
        if row["宛名番号"] == atena(3):
            row.update(住所="窓口市新町3番", 異動事由="転居", 異動年月日="2026-11-01")
        if row["宛名番号"] == atena(7):
            row.update(氏="𠮷田", 旧氏="山田")
    return [*rows, juki_row(41, 氏="髙橋"), juki_row(42, 氏="葛\U000e0102西")]


@pytest.fixture
def small_merges(monkeypatch: pytest.MonkeyPatch) -> None:
    """The share of changed lines decides between merge and full read at any size, not from 1,000 lines on."""
    monkeypatch.setattr(SnapshotMerge, "MIN_CHANGED_ALLOWED", 0)


@pytest.fixture
def city(local_storage: LocalFolderStorage) -> None:
    import_file(local_storage, juki_csv(CITY), name=FIRST)


def _read_in_full(local_storage: LocalFolderStorage, data: bytes) -> list[tuple[Any, ...]]:
    """What importing ``data`` into an empty mirror stores."""
    Resident.objects.all().delete()
    import_file(local_storage, data, name="JUKI_20261103090000_000001_FULL.csv")
    return _table()


def test_the_next_snapshot_is_merged_and_stores_what_a_full_read_stores(
    city, local_storage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="integrations.services")
    data = juki_csv(_next_city())
    result = import_file(local_storage, data, name=NEXT)
    assert MERGED not in caplog.text, "applied as a merge"
    assert (result.rows, result.added, result.changed, result.removed) == (40, 2, 2, 2)
    run = ImportRun.objects.get(key=f"inbound/{NEXT}")
    assert (run.rows, run.added, run.changed, run.removed) == (40, 2, 2, 2)
    merged = _table()
    assert Resident.objects.get(atena_no=atena(3)).address == "窓口市新町3番"
    assert Resident.objects.get(atena_no=atena(42)).shi == "葛\U000e0102西"  # byte-exact
    assert Resident.objects.get(atena_no=atena(41)).kanji_key.startswith("高橋")  # keys derived as ever
    assert not Resident.objects.filter(atena_no__in=[atena(5), atena(6)]).exists()
    assert merged == _read_in_full(local_storage, data)


def test_unchanged_residents_are_not_written_again(city, local_storage) -> None:
    # A mark only a rewrite would remove: the merge leaves an unchanged resident's row as it is.
    Resident.objects.filter(atena_no=atena(10)).update(kana_key="MARK")
    Resident.objects.filter(atena_no=atena(3)).update(kana_key="MARK")
    import_file(local_storage, juki_csv(_next_city()), name=NEXT)
    assert Resident.objects.get(atena_no=atena(10)).kana_key == "MARK"
    assert Resident.objects.get(atena_no=atena(3)).kana_key != "MARK"  # changed, so written from its line


def test_the_same_snapshot_again_changes_nothing(city, local_storage) -> None:
    result = import_file(local_storage, juki_csv(CITY), name=NEXT)
    assert (result.rows, result.added, result.changed, result.removed) == (40, 0, 0, 0)


def test_line_endings_and_a_bom_do_not_count_as_changes(city, local_storage) -> None:
    data = b"\xef\xbb\xbf" + juki_csv(CITY).replace(b"\r\n", b"\n")
    result = import_file(local_storage, data, name=NEXT)
    assert (result.added, result.changed, result.removed) == (0, 0, 0)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [*CITY[:20], juki_row(21, 生年月日="2023-02-30"), *CITY[21:]], "is not a date", id="bad-date"
        ),
        pytest.param([*CITY, CITY[4]], "duplicate 宛名番号", id="unchanged-line-twice"),
        pytest.param([*CITY, juki_row(5, 氏="別人")], "duplicate 宛名番号", id="changed-and-unchanged"),
        pytest.param([*CITY, juki_row(77), juki_row(77, 氏="別人")], "duplicate 宛名番号", id="new-twice"),
        pytest.param([*CITY[:-1], juki_row(40, 宛名番号="0000000401")], "check digit", id="check-digit"),
    ],
)
def test_a_bad_line_rejects_the_file_with_the_full_report_and_changes_nothing(
    city, local_storage, rows: list[dict[str, str]], expected: str
) -> None:
    before = _table()
    with pytest.raises(ResidentFileRejected) as rejected:
        import_file(local_storage, juki_csv(rows), name=NEXT)
    assert expected in "\n".join(str(p) for p in rejected.value.problems)
    assert _table() == before


def test_a_changed_rule_reads_every_line_again(city, local_storage, settings, caplog, small_merges) -> None:
    """The digests are keyed by the rules: under another GJ range no stored row matches its line any more, and the
    file is read in full."""
    caplog.set_level(logging.INFO, logger="integrations.services")
    Resident.objects.filter(atena_no=atena(10)).update(kana_key="MARK")
    settings.MADOGUCHI_GJ_RANGE = (0x100000, 0x100FFF)
    import_file(local_storage, juki_csv(CITY), name=NEXT)
    assert MERGED in caplog.text
    assert Resident.objects.get(atena_no=atena(10)).kana_key != "MARK"  # rebuilt from the file


def test_lines_accepted_before_are_checked_again_under_a_new_check_digit_rule(
    city, local_storage, settings
) -> None:
    """Unchanged lines are not taken on trust across a rule change: made with 10 → 0, some numbers fail 10 → 1."""
    before = _table()
    settings.MADOGUCHI_CHECK_DIGIT_TEN = "1"
    with pytest.raises(ResidentFileRejected, match="fails the M11W2-7 check digit"):
        import_file(local_storage, juki_csv(CITY), name=NEXT)
    assert _table() == before


def test_a_quoted_line_break_goes_to_the_full_reader(city, local_storage, caplog) -> None:
    caplog.set_level(logging.INFO, logger="integrations.services")
    rows = [*CITY[:-1], {**CITY[-1], "方書": "本町\r\nハイツ"}]
    with pytest.raises(ResidentFileRejected, match="control"):
        import_file(local_storage, juki_csv(rows), name=NEXT)
    assert "a line holds an odd number of quote characters" in caplog.text


def test_lines_that_make_one_record_only_together_are_read_as_the_full_reader_reads_them(
    city, local_storage
) -> None:
    """Two new lines, each with an even number of quote characters, that open and close one quoted field around
    an unchanged line between them: the full reader reads the three as one record. The merge, which reads only
    the new lines, must not make a record of the two alone (it hands the file to the full reader)."""
    person = juki_row(50)
    values = [person[column] for column in JUKI_V1_COLUMNS]
    eiji = JUKI_V1_COLUMNS.index("英字氏名")
    values[JUKI_V1_COLUMNS.index("住民票コード")] = '12"3'  # a quote inside an unquoted field: kept as it is
    values[JUKI_V1_COLUMNS.index("続柄")] = '子"'
    opening = ",".join([*values[:eiji], '"JOHN']).encode()
    closing = ",".join(['SMITH"', *values[eiji + 1 :]]).encode()
    header, *lines = juki_csv(CITY).split(b"\r\n")
    lines = [line for line in lines if line]
    tenth = next(i for i, line in enumerate(lines) if line.startswith(atena(10).encode()))
    data = (
        b"\r\n".join([header, *lines[:tenth], opening, lines[tenth], closing, *lines[tenth + 1 :]]) + b"\r\n"
    )
    assert opening.count(b'"') % 2 == 0 and closing.count(b'"') % 2 == 0
    outcomes: list[tuple[str, list[Any]]] = []
    for load in (
        lambda: import_file(local_storage, data, name=NEXT),
        lambda: _read_in_full(local_storage, data),
    ):
        try:
            load()
            outcomes.append(("applied", _table()))
        except ResidentFileRejected as rejected:
            outcomes.append(("rejected", [str(problem) for problem in rejected.problems]))
    merged, full = outcomes
    assert merged == full


def test_a_snapshot_that_changes_most_residents_is_read_in_full(
    city, local_storage, caplog, small_merges
) -> None:
    caplog.set_level(logging.INFO, logger="integrations.services")
    rows = [{**row, "更新日時": "2026-11-02T09:00:00+09:00"} for row in CITY]
    result = import_file(local_storage, juki_csv(rows), name=NEXT)
    assert MERGED in caplog.text and "40 of 40 lines are new or changed" in caplog.text
    assert result.rows == 40 and Resident.objects.count() == 40


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row versions (xmin) are PostgreSQL's")
def test_on_postgresql_only_the_changed_rows_get_new_versions(city, local_storage) -> None:
    def versions() -> dict[str, str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT atena_no, xmin::text FROM integrations_resident")
            return dict(cursor.fetchall())

    before = versions()
    import_file(local_storage, juki_csv(_next_city()), name=NEXT)
    after = versions()
    rewritten = {a for a in after if before.get(a) != after[a]}
    assert rewritten == {atena(3), atena(7), atena(41), atena(42)}
