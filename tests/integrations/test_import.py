"""Importing 住民記録 v1 files: snapshots and differences, and bad files that are rejected whole."""

import hashlib

import pytest
from django.core.management import CommandError, call_command

from integrations.juki_import import ResidentFileRejected
from integrations.layouts import JUKI_V1_COLUMNS
from integrations.models import AddressKey, ImportRun, ImportStatus, Resident
from integrations.storage import LocalFolderStorage, S3Storage
from tests.conftest import IVS_NAME, KICHI_NAME, SMALL_CITY, import_file, manage_py
from tests.factories import atena, juki_csv, juki_row

pytestmark = pytest.mark.django_db

DIFF = "JUKI_20261101091000_000002_DIFF.csv"
_QUOTED = juki_csv([juki_row(9, 方書="A, B")])
TRUNCATED_IN_QUOTES = _QUOTED[: _QUOTED.index(b'"A, ') + 4]  # the upload stopped inside a quoted field


def _mirror() -> list[tuple[str, str, str]]:
    return list(Resident.objects.order_by("atena_no").values_list("atena_no", "shi", "address"))


def diff_csv(*rows: tuple[str, dict[str, str]]) -> bytes:
    return juki_csv(
        [{"処理区分": kubun, **row} for kubun, row in rows], columns=("処理区分", *JUKI_V1_COLUMNS)
    )


def test_snapshot_is_imported_byte_exact(small_city) -> None:
    assert small_city.rows == 4
    assert Resident.objects.values("setai_no").distinct().count() == 3
    person = Resident.objects.get(atena_no=atena(1))
    assert person.shi == IVS_NAME
    assert person.shi.encode() == "葛".encode() + "\U000e0102".encode() + "西".encode()
    assert Resident.objects.get(atena_no=atena(2)).shi == KICHI_NAME
    assert Resident.objects.get(atena_no=atena(4)).setai_no == juki_row(3)["世帯番号"]
    run = ImportRun.objects.get()
    assert (run.status, run.rows, len(run.sha256)) == (ImportStatus.APPLIED, 4, 64)


def test_search_keys_are_derived_and_the_stored_text_is_not(small_city) -> None:
    takahashi = Resident.objects.get(atena_no=atena(3))
    assert takahashi.shi == "髙橋"  # stored as received
    assert takahashi.kanji_key == "高橋健" and takahashi.kana_key == "タカハシケン"
    assert (
        Resident.objects.get(atena_no=atena(1)).kanji_key == "葛西花子"
    )  # the variation selector folded away


def test_bom_is_ignored(local_storage) -> None:
    import_file(local_storage, b"\xef\xbb\xbf" + juki_csv([juki_row(1)]))
    assert Resident.objects.count() == 1


def test_a_new_snapshot_replaces_the_old(small_city, local_storage) -> None:
    import_file(local_storage, juki_csv([juki_row(7)]), name="JUKI_20261102090000_000001_FULL.csv")
    assert list(Resident.objects.values_list("atena_no", flat=True)) == [atena(7)]


def test_difference_adds_changes_and_deletes(small_city, local_storage) -> None:
    result = import_file(
        local_storage,
        diff_csv(
            ("1", juki_row(8, 氏="新田")),
            ("2", {**SMALL_CITY[2], "住所": "窓口市本町1番"}),
            ("3", SMALL_CITY[1]),
        ),
        name=DIFF,
    )
    assert (result.added, result.changed, result.removed) == (1, 1, 1)
    assert Resident.objects.get(atena_no=atena(8)).shi == "新田"
    assert Resident.objects.get(atena_no=atena(3)).address == "窓口市本町1番"
    assert not Resident.objects.filter(atena_no=atena(2)).exists()
    assert Resident.objects.get(atena_no=atena(1)).shi == IVS_NAME
    # The address-key dictionary follows: 窓口市本町1番 is in, person 2's address (nobody's now) is out.
    assert set(AddressKey.objects.values_list("key", flat=True)) == set(
        Resident.objects.values_list("address_key", flat=True)
    )


def _rejected(storage: LocalFolderStorage, data: bytes, name: str = "JUKI_20261102090000_000001_FULL.csv"):
    before = _mirror()
    with pytest.raises(ResidentFileRejected) as rejected:
        import_file(storage, data, name=name)
    assert _mirror() == before, "a rejected file must change nothing"
    run = ImportRun.objects.latest("seen_at", "id")
    assert run.status == ImportStatus.REJECTED and run.error_count == rejected.value.total
    assert run.sha256 == hashlib.sha256(data).hexdigest()
    report = storage.get(f"inbound/{name}.errors.csv").decode("utf-8-sig")
    assert report.startswith("行,列,理由\r\n")
    return rejected.value


def _reasons(rejected: ResidentFileRejected) -> str:
    return "\n".join(str(p) for p in rejected.problems)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            juki_csv([juki_row(9, 氏="高橋")], encoding="cp932"), "row 1: not UTF-8", id="shift-jis"
        ),
        pytest.param(
            juki_csv([]) + juki_csv([juki_row(9, 氏="高橋")], encoding="cp932").split(b"\r\n", 1)[1],
            "row 2: not UTF-8 (byte 0x8D)",
            id="shift-jis-row",
        ),
        pytest.param(
            juki_csv([juki_row(9)], columns=JUKI_V1_COLUMNS[1:]),
            "宛名番号: required column is missing",
            id="missing-column",
        ),
        pytest.param(
            juki_csv([juki_row(9)]).replace("生年月日".encode(), "生年月目".encode(), 1),
            "生年月目: unknown column",
            id="misspelled-column",
        ),
        pytest.param(
            juki_csv([{**juki_row(9), "備考": "x"}], columns=(*JUKI_V1_COLUMNS, "備考")),
            "備考: unknown column",
            id="extra-column",
        ),
        pytest.param(
            juki_csv([juki_row(9, 宛名番号="0000000091")]), "fails the M11W2-7 check digit", id="check-digit"
        ),
        pytest.param(
            juki_csv([juki_row(9), juki_row(9)]), "row 3, column 宛名番号: duplicate 宛名番号", id="duplicate"
        ),
        pytest.param(
            juki_csv([juki_row(9, 生年月日="2023-02-30")]), "'2023-02-30' is not a date", id="bad-date"
        ),
        pytest.param(juki_csv([juki_row(9, 住民状態="7")]), "住民状態: code '7'", id="unknown-code"),
        pytest.param(juki_csv([juki_row(9, 氏="山\ue000")]), "private-use character U+E000", id="bmp-pua"),
        pytest.param(juki_csv([juki_row(9, 氏="\U000e0102山")]), "without a base", id="lone-selector"),
        pytest.param(
            juki_csv([juki_row(9, 氏="葛\U000e0100西")]),
            "葛+U+E0100 is not a Moji_Joho sequence",
            id="adobe-ivs",
        ),
        pytest.param(
            juki_csv([juki_row(9, 名="\U0001f600")]), "is not a character of the MJ repertoire", id="emoji"
        ),
        pytest.param(juki_csv([juki_row(9, 氏="\U0010ffff")]), "outside the GJ range", id="outside-gj"),
        pytest.param(juki_csv([juki_row(9, 住所="窓口市\ufffd")]), "U+FFFD", id="replacement-char"),
        pytest.param(juki_csv([juki_row(9)])[:-40], "the last line has no line break", id="truncated"),
        pytest.param(TRUNCATED_IN_QUOTES, "broken CSV", id="truncated-in-quotes"),
        pytest.param(b"", "the file is empty", id="empty"),
        pytest.param(juki_csv([juki_row(9, 氏="長" * 101)]), "101 characters; at most 100", id="too-long"),
    ],
)
def test_bad_files_are_rejected_whole_with_row_column_and_reason(
    small_city, local_storage, data, expected
) -> None:
    assert expected in _reasons(_rejected(local_storage, data))


def test_a_difference_deleting_someone_who_is_not_there_is_rejected(small_city, local_storage) -> None:
    rejected = _rejected(local_storage, diff_csv(("1", juki_row(8)), ("3", juki_row(99))), name=DIFF)
    assert f"消除 of {atena(99)}, who is not in the resident data" in _reasons(rejected)
    assert not Resident.objects.filter(atena_no=atena(8)).exists()  # the valid 追加 was not applied either


def test_adding_someone_already_there_is_rejected(small_city, local_storage) -> None:
    assert "already in the resident data" in _reasons(
        _rejected(local_storage, diff_csv(("1", SMALL_CITY[0])), DIFF)
    )


def test_problems_are_capped_but_counted(small_city, local_storage) -> None:
    rows = [juki_row(n, 性別="9") for n in range(10, 1510)]
    rejected = _rejected(local_storage, juki_csv(rows))
    assert rejected.total == 1500 and len(rejected.problems) == 1000
    assert ImportRun.objects.latest("seen_at", "id").error_count == 1500
    report = local_storage.get("inbound/JUKI_20261102090000_000001_FULL.csv.errors.csv").decode("utf-8-sig")
    assert "他 500 件 (合計 1500 件)" in report


@pytest.mark.django_db(transaction=True)
def test_command_exits_non_zero_naming_the_file_and_the_problem(tmp_path) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(juki_csv([juki_row(2)], columns=JUKI_V1_COLUMNS[:-1]))
    result = manage_py("import_residents", str(path))
    assert result.returncode != 0
    assert "broken.csv" in result.stderr and "更新日時" in result.stderr and "missing" in result.stderr
    assert "report: " in result.stderr and "broken.csv.errors.csv" in result.stderr
    assert (tmp_path / "broken.csv.errors.csv").exists()


def test_command_imports_a_local_file_and_reports(tmp_path) -> None:
    path = tmp_path / "city.csv"
    path.write_bytes(juki_csv(SMALL_CITY))
    call_command("import_residents", str(path))
    assert Resident.objects.count() == 4
    with pytest.raises(CommandError, match="not UTF-8"):
        path.write_bytes(juki_csv([juki_row(9, 氏="高橋")], encoding="cp932"))
        call_command("import_residents", str(path))
    assert Resident.objects.count() == 4


def test_import_from_s3(s3_bucket: S3Storage) -> None:
    s3_bucket.put("inbound/full.csv", juki_csv([juki_row(1, 氏=IVS_NAME)]))
    call_command("import_residents", f"s3://{s3_bucket.bucket}/inbound/full.csv")
    assert Resident.objects.get().shi == IVS_NAME
    assert ImportRun.objects.get().source == f"s3://{s3_bucket.bucket}/inbound/full.csv"


def test_vendor_layout_through_the_fo_mapping(local_storage) -> None:
    columns = [
        "ＦＯ－漢字氏名",
        "ＦＯ－カナ氏名",
        *(f"ＦＯ－{c}" for c in JUKI_V1_COLUMNS if c not in {"氏", "名", "氏カナ", "名カナ"}),
    ]
    row = juki_row(1, 氏=IVS_NAME, 名="花子", 氏カナ="カサイ", 名カナ="ハナコ")
    vendor = {
        "ＦＯ－漢字氏名": f"{IVS_NAME}　花子",
        "ＦＯ－カナ氏名": "カサイ　ハナコ",
        **{f"ＦＯ－{k}": v for k, v in row.items()},
    }
    import_file(local_storage, juki_csv([vendor], columns=columns), mapping="fo-example")
    person = Resident.objects.get()
    assert (person.shi, person.mei, person.shi_kana, person.mei_kana) == (
        IVS_NAME,
        "花子",
        "カサイ",
        "ハナコ",
    )


def test_a_mapping_may_ignore_a_vendor_column(local_storage) -> None:
    from integrations.models import ColumnMapping

    ColumnMapping.objects.create(name="with-note", columns={"備考": ""})
    data = juki_csv([{**juki_row(1), "備考": "x"}], columns=(*JUKI_V1_COLUMNS, "備考"))
    import_file(local_storage, data, mapping="with-note")
    assert Resident.objects.count() == 1
