"""The outbox: rows are exported once, a failing batch holds up nothing else, unsafe values never get in."""

import pytest

from integrations.models import ExportBatch, ExportItem
from integrations.services import enqueue_export, export_flush
from integrations.storage import LocalFolderStorage
from madoguchi.moji.csvsafe import UnsafeCsvValue
from tests.conftest import IVS_NAME

pytestmark = pytest.mark.django_db

HEADER = ["受付番号", "氏"]


def test_enqueue_twice_exports_once(local_storage: LocalFolderStorage) -> None:
    enqueue_export(kind="juminido", reception_no="R1", header=HEADER, row=["R1", IVS_NAME])
    enqueue_export(kind="juminido", reception_no="R1", header=HEADER, row=["R1", IVS_NAME])
    (key,) = export_flush(storage=local_storage)
    assert local_storage.get(key) == f"受付番号,氏\r\nR1,{IVS_NAME}\r\n".encode()
    assert export_flush(storage=local_storage) == []


def test_one_csv_per_kind(local_storage: LocalFolderStorage) -> None:
    enqueue_export(kind="juminido", reception_no="R1", header=HEADER, row=["R1", "山田"])
    enqueue_export(kind="juminhyo", reception_no="R2", header=HEADER, row=["R2", "髙橋"])
    keys = export_flush(storage=local_storage)
    assert {k.split("/")[1] for k in keys} == {"juminido", "juminhyo"}


def test_unsafe_value_is_refused_before_it_enters_the_outbox() -> None:
    with pytest.raises(UnsafeCsvValue, match="column 氏"):
        enqueue_export(kind="juminido", reception_no="R1", header=HEADER, row=["R1", "=cmd|' /C calc'!A0"])
    assert not ExportItem.objects.exists()


def test_a_failing_batch_does_not_hold_up_the_others(local_storage: LocalFolderStorage) -> None:
    # A row that got into the outbox unchecked (e.g. written by an older version) cannot be written as CSV.
    ExportItem.objects.create(kind="bad", reception_no="R0", header=HEADER, row=["R0", "@SUM(1)"])
    enqueue_export(kind="juminido", reception_no="R1", header=HEADER, row=["R1", "山田"])
    keys = export_flush(storage=local_storage)
    assert [k.split("/")[1] for k in keys] == ["juminido"]
    bad = ExportBatch.objects.get(kind="bad")
    assert bad.written_at is None and "column 氏" in bad.last_error and bad.attempts == 1


def test_an_empty_batch_left_by_a_concurrent_flush_is_skipped(local_storage: LocalFolderStorage) -> None:
    ExportBatch.objects.create(kind="juminido", object_key="outbound/empty.csv")
    enqueue_export(kind="juminido", reception_no="R1", header=HEADER, row=["R1", "山田"])
    assert len(export_flush(storage=local_storage)) == 1
    assert not local_storage.exists("outbound/empty.csv")


def test_rows_of_two_layouts_go_to_two_files(local_storage: LocalFolderStorage) -> None:
    enqueue_export(kind="juminido", reception_no="R1", header=HEADER, row=["R1", "山田"])
    enqueue_export(kind="juminido", reception_no="R2", header=[*HEADER, "名"], row=["R2", "髙橋", "健"])
    files = sorted(local_storage.get(key) for key in export_flush(storage=local_storage))
    assert files == sorted(
        ["受付番号,氏\r\nR1,山田\r\n".encode(), "受付番号,氏,名\r\nR2,髙橋,健\r\n".encode()]
    )
