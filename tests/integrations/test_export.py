"""The outbox (issue 7): batches of CSVs, PDFs and a manifest written last; nothing lost, nothing doubled;
destinations (BOM, JIS X 0213 with degraded columns); RPA results; corrections; the sealed individual number."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import threading
from collections.abc import Callable, Iterator

import pytest
from django.db import connection, transaction
from django.utils import timezone

from integrations import hooks
from integrations.models import (
    ExportBatch,
    ExportDestination,
    ExportDocument,
    ExportItem,
    ExportStatus,
    Repertoire,
)
from integrations.outbound import (
    ExportRefused,
    ExportRows,
    export_batch_resend,
    export_flush,
    export_item_correct,
    export_results_pickup,
    export_secrets_purge,
    outbox_put,
)
from integrations.storage import LocalFolderStorage
from madoguchi.moji.csvsafe import UnsafeCsvValue
from tests.conftest import IVS_NAME, database_dump

pytestmark = pytest.mark.django_db

HEADER = ["受付番号", "氏名", "住所"]
NUMBER = "123456789018"
PDF = b"%PDF-1.7 a packet\n%%EOF\n"


def rows_of(reception_no: str, name: str = "山田　太郎", address: str = "窓口市本町1-1") -> ExportRows:
    return ExportRows("juminido", "juminido@1", HEADER, [[reception_no, name, address]])


def card_face(reception_no: str, number: str = NUMBER) -> ExportRows:
    return ExportRows(
        "std_kojin_bango_card",
        "std_kojin_bango_card@1",
        ["受付番号", "氏名", "個人番号"],
        [[reception_no, "窓口　花子", number]],
        frozenset({"個人番号"}),
    )


class Recording(LocalFolderStorage):
    """The local folder, remembering the order of its writes."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.puts: list[str] = []

    def put(self, key: str, data: bytes) -> None:
        super().put(key, data)
        self.puts.append(key)


@pytest.fixture
def storage(local_storage: LocalFolderStorage) -> Recording:
    return Recording(str(local_storage.root))


@pytest.fixture
def answers() -> Iterator[list[tuple[str, bool, str]]]:
    """What integrations told the apps above it through the result hook."""
    seen: list[tuple[str, bool, str]] = []

    def record(reception_no: str, ok: bool, message: str) -> None:
        seen.append((reception_no, ok, message))

    hooks.export_result_subscribe(record)
    yield seen
    hooks._export_result.remove(record)


def manifest(storage: LocalFolderStorage, key: str) -> dict:
    return json.loads(storage.get(key))


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def put(reception_no: str, *exports: ExportRows, pdf: bytes | None = PDF) -> list[ExportItem]:
    return outbox_put(reception_no=reception_no, exports=list(exports) or [rows_of(reception_no)], pdf=pdf)


# --- the batch ------------------------------------------------------------------------------------------------


def test_a_batch_is_its_csvs_and_pdfs_with_the_manifest_written_last(storage: Recording) -> None:
    put("R1", rows_of("R1", name=IVS_NAME), card_face("R1"))
    put("R2", rows_of("R2", name="髙橋　一郎"))
    (manifest_key,) = export_flush(storage=storage)
    assert storage.puts[-1] == manifest_key
    batch = ExportBatch.objects.get()
    assert manifest_key == f"outbound/{batch.day:%Y%m%d}/{batch.name}/{batch.name}.manifest.json"
    assert re.fullmatch(r"\d{8}-0001", batch.name)
    body = manifest(storage, manifest_key)
    assert body["receptions"] == 2 and body["result_file"] == f"{batch.name}.result.csv"
    files = {entry["file"]: entry for entry in body["files"]}
    assert set(files) == {
        f"{batch.name}_juminido_v1.csv",
        f"{batch.name}_std_kojin_bango_card_v1.csv",
        "pdf/R1.pdf",
        "pdf/R2.pdf",
    }
    for name, entry in files.items():
        data = storage.get(batch.prefix + name)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data)
    juminido = storage.get(f"{batch.prefix}{batch.name}_juminido_v1.csv")
    # UTF-8 without BOM, CRLF, MJ+ byte-exact (the IVS and 髙 as stored).
    assert juminido == (
        f"受付番号,氏名,住所\r\nR1,{IVS_NAME},窓口市本町1-1\r\nR2,髙橋　一郎,窓口市本町1-1\r\n".encode()
    )
    assert files[f"{batch.name}_juminido_v1.csv"]["rows"] == 2
    assert storage.get(batch.prefix + "pdf/R1.pdf") == PDF
    # The individual number reaches the file, and only the file: in the database it is sealed.
    card = storage.get(f"{batch.prefix}{batch.name}_std_kojin_bango_card_v1.csv")
    assert csv_rows(card)[1] == ["R1", "窓口　花子", NUMBER]
    assert NUMBER not in database_dump()
    assert {item.state for item in ExportItem.objects.all()} == {ExportStatus.SENT}


def test_flushing_again_writes_nothing_and_putting_again_adds_nothing(storage: Recording) -> None:
    put("R1")
    assert len(export_flush(storage=storage)) == 1
    put("R1")  # the same reception finished twice (a retried task)
    writes = len(storage.puts)
    assert export_flush(storage=storage) == []
    assert len(storage.puts) == writes
    assert ExportItem.objects.count() == 1 and ExportDocument.objects.count() == 1


def test_each_flush_is_a_new_batch_with_the_next_sequence(storage: Recording) -> None:
    put("R1")
    export_flush(storage=storage)
    put("R2")
    export_flush(storage=storage)
    assert [b.seq for b in ExportBatch.objects.order_by("pk")] == [1, 2]


def test_rows_of_two_layout_versions_go_to_two_files(storage: Recording) -> None:
    put("R1", rows_of("R1"))
    put("R2", ExportRows("juminido", "juminido@2", [*HEADER, "方書"], [["R2", "髙橋", "本町", "3階"]]))
    export_flush(storage=storage)
    batch = ExportBatch.objects.get()
    names = [entry["file"] for entry in manifest(storage, batch.manifest_key)["files"]]
    assert f"{batch.name}_juminido_v1.csv" in names and f"{batch.name}_juminido_v2.csv" in names


def test_a_batch_holds_at_most_the_configured_number_of_rows(storage: Recording, settings) -> None:
    settings.MADOGUCHI_EXPORT_BATCH_MAX = 2
    for n in range(5):
        put(f"R{n}")
    assert len(export_flush(storage=storage)) == 3
    assert sorted(ExportBatch.objects.values_list("seq", flat=True)) == [1, 2, 3]


def _written_receptions(storage: LocalFolderStorage) -> list[str]:
    """The 受付番号 of every row of every written juminido CSV, in all batches."""
    found: list[str] = []
    for batch in ExportBatch.objects.exclude(written_at=None):
        data = storage.get(f"{batch.prefix}{batch.name}_juminido_v1.csv")
        found += [row[0] for row in csv_rows(data)[1:]]
    return found


def test_a_batch_is_its_destinations_id_range_and_the_next_starts_after_it(
    storage: Recording, settings
) -> None:
    settings.MADOGUCHI_EXPORT_BATCH_MAX = 2
    for n in range(3):
        put(f"R{n}")
    export_flush(storage=storage)
    put("R3")
    export_flush(storage=storage)
    batches = list(ExportBatch.objects.order_by("pk"))
    assert [sorted(b.items.values_list("reception_no", flat=True)) for b in batches] == [
        ["R0", "R1"],
        ["R2"],
        ["R3"],
    ]
    assert [item.batch for item in ExportItem.objects.order_by("pk")] == [
        batches[0],
        batches[0],
        *batches[1:],
    ]
    assert sorted(_written_receptions(storage)) == ["R0", "R1", "R2", "R3"]


@pytest.mark.django_db(transaction=True)
def test_a_finish_still_open_when_a_batch_is_cut_is_written_once_not_lost(storage: Recording) -> None:
    """On PostgreSQL ids are handed out before their transactions commit: R2's finish takes a lower id than R3's
    but commits later. The cut waits for it (on SQLite every write waits), so R2 is never below a written batch's
    range without being in its files."""
    put("R1")
    inside, release = threading.Event(), threading.Event()

    def in_thread(work: Callable[[], object]) -> threading.Thread:
        def run() -> None:
            try:
                work()
            finally:
                connection.close()

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def slow_finish() -> None:
        with transaction.atomic():
            put("R2")
            inside.set()
            release.wait(20)

    finishing = in_thread(slow_finish)
    assert inside.wait(20)
    quick = in_thread(lambda: put("R3"))  # commits at once on PostgreSQL; waits for R2 on SQLite
    quick.join(1)
    flushing = in_thread(lambda: export_flush(storage=storage))
    flushing.join(1)
    assert flushing.is_alive()  # the cut waits for the finish in flight
    release.set()
    for thread in (finishing, quick, flushing):
        thread.join(30)
    export_flush(storage=storage)
    assert sorted(_written_receptions(storage)) == ["R1", "R2", "R3"]
    assert all(item.state == ExportStatus.SENT for item in ExportItem.objects.all())


def test_unsafe_value_is_refused_before_it_enters_the_outbox() -> None:
    with pytest.raises(UnsafeCsvValue, match="R1 juminido: row 1, column 氏名"):
        put("R1", rows_of("R1", name="=cmd|' /C calc'!A0"))
    assert not ExportItem.objects.exists() and not ExportDocument.objects.exists()


def test_a_destination_with_bom(storage: Recording) -> None:
    ExportDestination.objects.create(code="rpa", name="RPA", prefix="rpa/", bom=True)
    put("R1")
    (key,) = export_flush(storage=storage)
    assert key.startswith("rpa/")
    batch = ExportBatch.objects.get()
    assert storage.get(f"{batch.prefix}{batch.name}_juminido_v1.csv").startswith(b"\xef\xbb\xbf\xe5\x8f\x97")
    assert manifest(storage, key)["encoding"] == "UTF-8 with BOM"


def test_kinds_go_to_the_destination_that_names_them(storage: Recording) -> None:
    ExportDestination.objects.create(code="core", name="基幹", prefix="core/")
    ExportDestination.objects.create(
        code="card", name="カード", prefix="card/", kinds=["std_kojin_bango_card"]
    )
    put("R1", rows_of("R1"), card_face("R1"))
    keys = export_flush(storage=storage)
    assert sorted(key.split("/")[0] for key in keys) == ["card", "core"]


# --- JIS X 0213 destinations ------------------------------------------------------------------------------------


@pytest.fixture
def jis_destination() -> ExportDestination:
    return ExportDestination.objects.create(
        code="legacy",
        name="旧基幹",
        prefix="legacy/",
        repertoire=Repertoire.JISX0213,
        degraded_columns=["氏名", "住所"],
    )


def test_a_jis_x_0213_destination_gets_degraded_twins_and_a_substitution_report(
    storage: Recording, jis_destination: ExportDestination
) -> None:
    put("R1", rows_of("R1", name="髙橋　" + IVS_NAME, address="𠮷野町1"))
    (key,) = export_flush(storage=storage)
    batch = ExportBatch.objects.get()
    data = csv_rows(storage.get(f"{batch.prefix}{batch.name}_juminido_v1.csv"))
    assert data[0] == ["受付番号", "氏名", "氏名_JIS", "住所", "住所_JIS"]
    assert data[1] == ["R1", "髙橋　" + IVS_NAME, "高橋　葛西", "𠮷野町1", "吉野町1"]
    report = csv_rows(storage.get(f"{batch.prefix}{batch.name}_juminido_v1.substitutions.csv"))
    assert report[0] == ["受付番号", "列", "元の文字", "符号位置", "代替文字"]
    assert report[1:] == [
        ["R1", "氏名", "髙", "U+9AD9", "高"],
        ["R1", "氏名", "葛\U000e0102", "U+845B U+E0102", "葛"],
        ["R1", "住所", "𠮷", "U+20BB7", "吉"],
    ]
    assert f"{batch.name}_juminido_v1.substitutions.csv" in {
        entry["file"] for entry in manifest(storage, key)["files"]
    }


def test_a_character_without_substitute_is_refused_at_the_counter(jis_destination: ExportDestination) -> None:
    # A GJ character (Plane 16): in MJ+, in no JIS X 0213 column, with no 異体字 key.
    with pytest.raises(ExportRefused, match=r"R1 juminido: row 1, column 氏名: .*U\+100000.*no substitute"):
        put("R1", rows_of("R1", name="\U00100000田"))
    with pytest.raises(ExportRefused, match=r"column 受付番号: .*no degraded twin"):
        put("髙1", ExportRows("juminido", "juminido@1", HEADER, [["髙1", "山田", "本町"]]))
    assert not ExportItem.objects.exists()


# --- RPA results ----------------------------------------------------------------------------------------------


def _sent(storage: Recording, *receptions: str) -> ExportBatch:
    for reception_no in receptions:
        put(reception_no, rows_of(reception_no), card_face(reception_no))
    export_flush(storage=storage)
    return ExportBatch.objects.order_by("-pk")[0]


def _result(storage: Recording, batch: ExportBatch, text: str) -> None:
    storage.put(batch.result_key, text.encode("utf-8"))


def test_results_acknowledge_ok_and_refuse_ng(storage: Recording, answers: list) -> None:
    batch = _sent(storage, "R1", "R2")
    _result(storage, batch, "受付番号,結果,メッセージ\r\nR1,OK,\r\nR2,NG,生年月日が住基と一致しません\r\n")
    assert export_results_pickup(storage=storage) == 1
    statuses = dict(ExportItem.objects.filter(kind="juminido").values_list("reception_no", "status"))
    assert statuses == {"R1": ExportStatus.OK, "R2": ExportStatus.NG}
    assert (
        ExportItem.objects.get(kind="juminido", reception_no="R2").message == "生年月日が住基と一致しません"
    )
    assert answers == [("R1", True, ""), ("R2", False, "生年月日が住基と一致しません")]
    batch.refresh_from_db()
    assert batch.result_counts["ok"] == 1 and batch.result_counts["ng"] == 1 and batch.result_read_at
    # R1's individual number is purged with its acknowledgement; R2's stays sealed for the re-export.
    r1, r2 = (ExportItem.objects.get(kind="std_kojin_bango_card", reception_no=no) for no in ("R1", "R2"))
    assert r1.secrets == "" and r1.secrets_purged_at and r2.secrets.startswith("v1.")
    # R1's PDF is no longer needed; R2's is.
    assert list(ExportDocument.objects.values_list("reception_no", flat=True)) == ["R2"]
    assert export_results_pickup(storage=storage) == 0  # read once


def test_a_result_naming_an_unknown_reception_is_reported_and_changes_nothing_else(
    storage: Recording, answers: list
) -> None:
    batch = _sent(storage, "R1")
    _result(storage, batch, "受付番号,結果,メッセージ\r\nR9,OK,\r\nR1,OK,\r\n")
    export_results_pickup(storage=storage)
    report = csv_rows(storage.get(batch.result_report_key))
    assert report[1] == ["2", "R9", "the batch holds no such reception"]
    assert answers == [("R1", True, "")]
    assert ExportBatch.objects.get().result_counts["unknown"] == 1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("受付番号,結果\r\nR1,OK\r\n", "line 1: the header must be"),
        ("受付番号,結果,メッセージ\r\nR1,済,\r\n", "line 2: 結果 must be OK or NG"),
        ("受付番号,結果,メッセージ\r\nR1,OK,\r\nR1,NG,x\r\n", "line 3: 受付番号 R1 is listed twice"),
        ("受付番号,結果,メッセージ\r\nR1,OK\r\n", "line 2: 2 columns, expected 3"),
        ("受付番号,結果,メッセージ\r\nR1,OK,\r\nR2,O", "truncated"),
        ("", "empty"),
    ],
)
def test_a_malformed_result_file_is_rejected_whole(
    storage: Recording, answers: list, text: str, reason: str
) -> None:
    batch = _sent(storage, "R1", "R2")
    _result(storage, batch, text)
    export_results_pickup(storage=storage)
    batch.refresh_from_db()
    assert reason in batch.result_error and batch.result_read_at is None
    assert "nothing was applied" in storage.get(batch.result_report_key).decode()
    assert answers == [] and {item.state for item in ExportItem.objects.all()} == {ExportStatus.SENT}
    # The same file is not read again; the robot's corrected file is.
    export_results_pickup(storage=storage)
    assert answers == []
    _result(storage, batch, "受付番号,結果,メッセージ\r\nR1,OK,\r\nR2,OK,\r\n")
    assert export_results_pickup(storage=storage) == 1
    assert len(answers) == 2


def test_a_result_file_in_shift_jis_is_rejected(storage: Recording) -> None:
    batch = _sent(storage, "R1")
    storage.put(batch.result_key, "受付番号,結果,メッセージ\r\nR1,OK,\r\n".encode("cp932"))
    export_results_pickup(storage=storage)
    batch.refresh_from_db()
    assert "not UTF-8" in batch.result_error


# --- corrections and re-sending -------------------------------------------------------------------------------


def test_a_refused_reception_is_corrected_and_exported_again(storage: Recording, django_user_model) -> None:
    admin = django_user_model.objects.create_user("admin1")
    first = _sent(storage, "R1")
    _result(storage, first, "受付番号,結果,メッセージ\r\nR1,NG,住所の番地が不正です\r\n")
    export_results_pickup(storage=storage)
    refused = ExportItem.objects.get(kind="juminido", reception_no="R1")
    newer = export_item_correct(item=refused, rows=[["R1", "山田　太郎", "窓口市本町1-2"]], actor=admin)
    assert (newer.revision, newer.status) == (2, ExportStatus.PENDING)
    refused.refresh_from_db()
    assert refused.status == ExportStatus.SUPERSEDED
    (key,) = export_flush(storage=storage)
    second = ExportBatch.objects.get(pk__gt=first.pk)
    assert csv_rows(storage.get(f"{second.prefix}{second.name}_juminido_v1.csv"))[1:] == [
        ["R1", "山田　太郎", "窓口市本町1-2"]
    ]
    assert "pdf/R1.pdf" in {entry["file"] for entry in manifest(storage, key)["files"]}
    with pytest.raises(ExportRefused, match="only a refused row"):
        export_item_correct(item=newer, rows=[["R1", "x", "y"]], actor=admin)


def test_a_correction_keeps_the_sealed_number_and_checks_values(
    storage: Recording, django_user_model
) -> None:
    admin = django_user_model.objects.create_user("admin1")
    batch = _sent(storage, "R1")
    _result(storage, batch, "受付番号,結果,メッセージ\r\nR1,NG,氏名の誤り\r\n")
    export_results_pickup(storage=storage)
    card = ExportItem.objects.get(kind="std_kojin_bango_card", reception_no="R1")
    with pytest.raises(UnsafeCsvValue, match="column 氏名"):
        export_item_correct(item=card, rows=[["R1", "=1+1", ""]], actor=admin)
    # The hidden column cannot be overwritten through the correction.
    newer = export_item_correct(item=card, rows=[["R1", "窓口　花子", "999999999999"]], actor=admin)
    export_flush(storage=storage)
    newer.refresh_from_db()
    second = newer.batch
    assert second is not None and second != batch
    assert csv_rows(storage.get(f"{second.prefix}{second.name}_std_kojin_bango_card_v1.csv"))[1] == [
        "R1",
        "窓口　花子",
        NUMBER,
    ]


def test_a_batch_is_re_sent_under_the_same_keys(storage: Recording, django_user_model) -> None:
    admin = django_user_model.objects.create_user("admin1")
    batch = _sent(storage, "R1")
    before = {key: storage.get(key) for key in storage.list(batch.prefix)}
    for key in before:
        (storage.root / key).unlink()
    export_batch_resend(batch=batch, actor=admin)
    assert export_flush(storage=storage) == [batch.manifest_key]
    assert {key: storage.get(key) for key in storage.list(batch.prefix)} == before
    assert ExportBatch.objects.count() == 1 and not ExportBatch.objects.get().resend_requested


# --- the individual number ------------------------------------------------------------------------------------


def test_the_individual_number_is_purged_after_its_retention_even_without_an_answer(
    storage: Recording, settings
) -> None:
    _sent(storage, "R1")
    assert export_secrets_purge() == 0
    later = timezone.now() + dt.timedelta(days=settings.MADOGUCHI_INDIVIDUAL_NUMBER_RETENTION_DAYS + 1)
    assert export_secrets_purge(now=later) == 1
    assert not ExportItem.objects.exclude(secrets="").exists()


def test_a_number_sealed_under_a_lost_key_is_exported_empty_rather_than_holding_the_batch(
    storage: Recording, settings
) -> None:
    put("R1", card_face("R1"))
    settings.MADOGUCHI_DATA_KEY = "a2V5IG9mIGFub3RoZXIgaW5zdGFsbGF0aW9uIDMyYnk="  # another 32-byte key
    assert len(export_flush(storage=storage)) == 1
    batch = ExportBatch.objects.get()
    assert csv_rows(storage.get(f"{batch.prefix}{batch.name}_std_kojin_bango_card_v1.csv"))[1] == [
        "R1",
        "窓口　花子",
        "",
    ]


def test_a_number_purged_before_its_batch_is_written_leaves_its_cell_empty(
    storage: Recording, settings
) -> None:
    put("R1", card_face("R1"), rows_of("R1"))
    later = timezone.now() + dt.timedelta(days=settings.MADOGUCHI_INDIVIDUAL_NUMBER_RETENTION_DAYS + 1)
    assert export_secrets_purge(now=later) == 1
    export_flush(storage=storage)
    batch = ExportBatch.objects.get()
    card = storage.get(f"{batch.prefix}{batch.name}_std_kojin_bango_card_v1.csv")
    assert csv_rows(card)[1] == ["R1", "窓口　花子", ""]
    assert "\ue000".encode() not in card  # the stored text's mark for the sealed cell never leaves


def test_rows_stored_before_they_were_kept_encoded_are_encoded_at_the_flush(storage: Recording) -> None:
    put("R1", rows_of("R1"), card_face("R1"))
    put("R2", rows_of("R2", name=IVS_NAME), card_face("R2", number="987654321098"))
    put("R3", rows_of("R3"))
    ExportItem.objects.filter(reception_no="R2").update(csv="", row_count=0)  # as migration 0009 left them
    export_flush(storage=storage)
    batch = ExportBatch.objects.get()
    juminido = csv_rows(storage.get(f"{batch.prefix}{batch.name}_juminido_v1.csv"))
    assert [row[:2] for row in juminido[1:]] == [["R1", "山田　太郎"], ["R2", IVS_NAME], ["R3", "山田　太郎"]]
    card = csv_rows(storage.get(f"{batch.prefix}{batch.name}_std_kojin_bango_card_v1.csv"))
    assert [row[2] for row in card[1:]] == [NUMBER, "987654321098"]
    rows = {entry["file"]: entry.get("rows") for entry in manifest(storage, batch.manifest_key)["files"]}
    assert (
        rows[f"{batch.name}_juminido_v1.csv"] == 3 and rows[f"{batch.name}_std_kojin_bango_card_v1.csv"] == 2
    )


def test_a_private_use_character_is_refused_naming_where() -> None:
    with pytest.raises(
        ExportRefused, match="R1 juminido: row 1, column 住所: the private-use character U\\+E000"
    ):
        put("R1", rows_of("R1", address="窓口市\ue0001-1"))
    assert not ExportItem.objects.exists()


def test_a_sealed_column_is_never_typed_even_when_it_was_empty(storage: Recording, django_user_model) -> None:
    admin = django_user_model.objects.create_user("admin1")
    put("R1", card_face("R1", number=""))
    batch = _sent(storage)
    _result(storage, batch, "受付番号,結果,メッセージ\r\nR1,NG,個人番号がありません\r\n")
    export_results_pickup(storage=storage)
    card = ExportItem.objects.get(kind="std_kojin_bango_card")
    newer = export_item_correct(item=card, rows=[["R1", "窓口　花子", NUMBER]], actor=admin)
    assert newer.rows == [["R1", "窓口　花子", ""]] and NUMBER not in database_dump()


def test_a_batch_whose_result_was_read_is_not_re_sent(storage: Recording, django_user_model) -> None:
    admin = django_user_model.objects.create_user("admin1")
    batch = _sent(storage, "R1")
    _result(storage, batch, "受付番号,結果,メッセージ\r\nR1,OK,\r\n")
    export_results_pickup(storage=storage)
    batch.refresh_from_db()
    with pytest.raises(ExportRefused, match="its result was read"):
        export_batch_resend(batch=batch, actor=admin)
    assert not ExportBatch.objects.filter(resend_requested=True).exists()


def test_a_flush_is_queued_once_enough_rows_wait(
    settings, django_capture_on_commit_callbacks, monkeypatch: pytest.MonkeyPatch
) -> None:
    from integrations import tasks

    queued: list[str] = []
    monkeypatch.setattr(tasks.export_flush, "delay", lambda: queued.append("export_flush"))
    settings.MADOGUCHI_EXPORT_FLUSH_ROWS = 2
    with django_capture_on_commit_callbacks(execute=True):
        put("R1")
    assert queued == []
    with django_capture_on_commit_callbacks(execute=True):
        put("R2")
    assert queued == ["export_flush"]
    export_flush(storage=LocalFolderStorage(settings.OBJECT_STORAGE["LOCAL_ROOT"]))
    with django_capture_on_commit_callbacks(execute=True):
        put("R3")  # the waiting rows went out: one is not enough
    assert queued == ["export_flush"]


def test_a_row_that_does_not_match_its_header_is_refused() -> None:
    with pytest.raises(ExportRefused, match="R1: std_kojin_bango_card row 1 does not match its header"):
        put("R1", ExportRows("std_kojin_bango_card", "std_kojin_bango_card@1", ["受付番号", "個人番号"], [["R1"]],
                             frozenset({"個人番号"})))  # fmt: skip
    assert not ExportItem.objects.exists()


def test_a_result_file_that_leaves_a_reception_unanswered_is_rejected(
    storage: Recording, answers: list
) -> None:
    batch = _sent(storage, "R1", "R2")
    _result(storage, batch, "受付番号,結果,メッセージ\r\nR1,OK,\r\n")  # the robot stopped after one line
    export_results_pickup(storage=storage)
    batch.refresh_from_db()
    assert "have no line" in batch.result_error and batch.result_read_at is None
    assert "R2" in storage.get(batch.result_report_key).decode()
    assert answers == [] and not ExportItem.objects.filter(status=ExportStatus.OK).exists()


def test_a_reception_is_done_only_when_every_row_of_it_is_ok(storage: Recording, answers: list) -> None:
    ExportDestination.objects.create(code="core", name="基幹", prefix="core/")
    ExportDestination.objects.create(
        code="card", name="カード", prefix="card/", kinds=["std_kojin_bango_card"]
    )
    put("R1", rows_of("R1"), card_face("R1"))
    export_flush(storage=storage)
    core, card = (ExportBatch.objects.get(destination__code=code) for code in ("core", "card"))
    _result(storage, core, "受付番号,結果,メッセージ\r\nR1,NG,住所不一致\r\n")
    _result(storage, card, "受付番号,結果,メッセージ\r\nR1,OK,\r\n")
    export_results_pickup(storage=storage)
    assert answers == [("R1", False, "住所不一致"), ("R1", False, "住所不一致")]  # never 完了 while refused


def test_a_re_send_asked_before_the_result_is_dropped_once_the_result_is_read(
    storage: Recording, django_user_model
) -> None:
    admin = django_user_model.objects.create_user("admin1")
    batch = _sent(storage, "R1")
    export_batch_resend(batch=batch, actor=admin)
    _result(storage, batch, "受付番号,結果,メッセージ\r\nR1,OK,\r\n")
    export_results_pickup(storage=storage)
    writes = len(storage.puts)
    assert export_flush(storage=storage) == [] and len(storage.puts) == writes


def test_a_correction_does_not_restart_the_numbers_retention(
    storage: Recording, django_user_model, settings
) -> None:
    admin = django_user_model.objects.create_user("admin1")
    batch = _sent(storage, "R1")
    _result(storage, batch, "受付番号,結果,メッセージ\r\nR1,NG,x\r\n")
    export_results_pickup(storage=storage)
    card = ExportItem.objects.get(kind="std_kojin_bango_card")
    newer = export_item_correct(item=card, rows=[list(card.rows[0])], actor=admin)
    assert card.sealed_at is not None and newer.sealed_at == card.sealed_at and newer.secrets
    days = settings.MADOGUCHI_INDIVIDUAL_NUMBER_RETENTION_DAYS
    assert export_secrets_purge(now=card.sealed_at + dt.timedelta(days=days, seconds=1)) == 1
    assert not ExportItem.objects.exclude(secrets="").exists()
