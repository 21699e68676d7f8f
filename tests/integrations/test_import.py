"""Importing a 住民記録 v1 full snapshot: the happy path, and bad files that change nothing."""

import pytest
from django.core.management import CommandError, call_command

from integrations.juki_import import ResidentFileRejected
from integrations.layouts import JUKI_V1_COLUMNS
from integrations.models import Household, ImportRun, ImportStatus, Resident
from integrations.services import residents_import_snapshot
from integrations.storage import S3Storage
from tests.conftest import IVS_NAME, KICHI_NAME, manage_py
from tests.factories import atena, juki_csv, juki_row

pytestmark = pytest.mark.django_db


def test_snapshot_is_imported_byte_exact(small_city) -> None:
    assert small_city.residents == 4
    assert small_city.households == 3
    person = Resident.objects.get(atena_no=atena(1))
    assert person.shi == IVS_NAME
    assert person.shi.encode() == "葛".encode() + "\U000e0102".encode() + "西".encode()
    assert Resident.objects.get(atena_no=atena(2)).shi == KICHI_NAME
    assert Resident.objects.get(atena_no=atena(4)).household.setai_no == juki_row(3)["世帯番号"]
    assert ImportRun.objects.get().status == ImportStatus.APPLIED


def test_bom_is_ignored() -> None:
    residents_import_snapshot(data=b"\xef\xbb\xbf" + juki_csv([juki_row(1)]), source="bom.csv")
    assert Resident.objects.count() == 1


def test_a_new_snapshot_replaces_the_old(small_city) -> None:
    residents_import_snapshot(data=juki_csv([juki_row(7)]), source="second.csv")
    assert list(Resident.objects.values_list("atena_no", flat=True)) == [atena(7)]
    assert Household.objects.count() == 1


def _import_rejected(tmp_path, data: bytes, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(CommandError) as error:
        call_command("import_residents", str(path))
    return str(error.value)


def test_missing_required_column_changes_nothing(small_city, tmp_path) -> None:
    before = list(Resident.objects.order_by("atena_no").values_list("atena_no", "shi", "address"))
    columns = [c for c in JUKI_V1_COLUMNS if c != "生年月日"]
    message = _import_rejected(tmp_path, juki_csv([juki_row(9)], columns=columns), "no-birthdate.csv")
    assert "no-birthdate.csv" in message
    assert "生年月日" in message and "missing" in message
    assert list(Resident.objects.order_by("atena_no").values_list("atena_no", "shi", "address")) == before
    assert ImportRun.objects.latest("started_at").status == ImportStatus.REJECTED


def test_shift_jis_file_changes_nothing(small_city, tmp_path) -> None:
    before = Resident.objects.count()
    data = juki_csv([juki_row(9, 氏="高橋")], encoding="cp932")
    message = _import_rejected(tmp_path, data, "sjis.csv")
    assert "sjis.csv" in message and "not UTF-8" in message
    assert Resident.objects.count() == before
    assert Resident.objects.filter(atena_no=atena(1), shi=IVS_NAME).exists()


@pytest.mark.django_db(transaction=True)
def test_command_exits_non_zero_with_the_message(tmp_path) -> None:
    residents_import_snapshot(data=juki_csv([juki_row(1, 氏=IVS_NAME)]), source="first.csv")
    path = tmp_path / "broken.csv"
    path.write_bytes(juki_csv([juki_row(2)], columns=JUKI_V1_COLUMNS[:-1]))
    result = manage_py("import_residents", str(path))
    assert result.returncode != 0
    assert "broken.csv" in result.stderr and "更新日時" in result.stderr
    assert list(Resident.objects.values_list("shi", flat=True)) == [IVS_NAME]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (juki_row(1, 宛名番号="0000000011"), "fails the M11W2-7 check digit"),
        (juki_row(1, 生年月日="1980/01/01"), "is not a date"),
        (juki_row(1, 性別="3"), "code '3'"),
        (juki_row(1, 住所=""), "required value is empty"),
        (juki_row(1, 氏="山\ue000"), "private-use"),
    ],
)
def test_row_problems_name_row_column_and_reason(small_city, row, expected) -> None:
    with pytest.raises(ResidentFileRejected) as rejected:
        residents_import_snapshot(data=juki_csv([juki_row(5), row]), source="bad.csv")
    problem = rejected.value.problems[0]
    assert problem.row == 3
    assert expected in problem.reason
    assert Resident.objects.count() == 4


def test_duplicate_atena_no_is_rejected(small_city) -> None:
    with pytest.raises(ResidentFileRejected, match="duplicate 宛名番号"):
        residents_import_snapshot(data=juki_csv([juki_row(5), juki_row(5)]), source="dup.csv")
    assert Resident.objects.count() == 4


def test_import_from_s3(s3_bucket: S3Storage) -> None:
    s3_bucket.put("inbound/full.csv", juki_csv([juki_row(1, 氏=IVS_NAME)]))
    call_command("import_residents", f"s3://{s3_bucket.bucket}/inbound/full.csv")
    assert Resident.objects.get().shi == IVS_NAME
    assert ImportRun.objects.get().source == f"s3://{s3_bucket.bucket}/inbound/full.csv"
