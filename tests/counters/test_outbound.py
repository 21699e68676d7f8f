"""A finished visit through the outbox to the core system and back (issue 7): the standard layouts written from
the session's forms and card, the individual number sealed from the card read until the core system's OK, and the
RPA result moving the reception to 完了 or 差戻し, a corrected reception back to 出力済 and then 連携済."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from counters import services
from counters.models import CounterSession, Progress, SessionState
from integrations.models import ExportBatch, ExportItem, ExportStatus
from integrations.outbound import export_flush, export_item_correct, export_results_pickup
from integrations.storage import LocalFolderStorage
from madoguchi.fieldcrypt import seal
from tests.conftest import database_dump
from tests.factories import CounterFactory, atena

pytestmark = pytest.mark.django_db

NUMBER = "987654321018"


@pytest.fixture
def finished(clerk, small_city, navigation) -> CounterSession:
    """A 転入 of a resident and a child moving in with them, identified by My Number card, finished."""
    counter = CounterFactory.create(code="shimin-1", name="市民課 1番窓口")
    session = services.counter_session_open(counter=counter, clerk=clerk)
    services.session_identify(session=session, atena_no=atena(1), clerk=clerk)
    session.refresh_from_db()
    services.session_interview(
        session=session,
        clerk=clerk,
        life_events=["tennyu"],
        answers={"kokuho": "no"},
        companions=[{"shi": "窓口", "mei": "一太", "birth_date": "2018-05-05", "zokugara": "子"}],
    )
    session.refresh_from_db()
    services.session_forms_prepare(session=session, clerk=clerk)
    read_at = timezone.now().isoformat()
    card = {"kind": "mynumber", "status": "read", "shimei": "窓口　花子", "birth_date": "1985-04-01",
            "sex": "女", "address": "窓口市本町1-1", "read_at": read_at}  # fmt: skip
    CounterSession.objects.filter(pk=session.pk).update(
        card=card,
        card_secret=seal(NUMBER, purpose=services.INDIVIDUAL_NUMBER),
        state=SessionState.FINISHED,
        finished_at=timezone.now() - dt.timedelta(minutes=1),
    )
    assert services.session_output_run(session_id=session.pk) == "printed"
    session.refresh_from_db()
    return session


def _file(storage: LocalFolderStorage, batch: ExportBatch, kind: str) -> list[list[str]]:
    (key,) = [k for k in storage.list(batch.prefix) if f"_{kind}_v" in k and k.endswith(".csv")]
    return list(csv.reader(io.StringIO(storage.get(key).decode(), newline="")))


def test_the_standard_layouts_are_written_from_the_visit(
    finished: CounterSession, local_storage: LocalFolderStorage
) -> None:
    kinds = set(ExportItem.objects.filter(reception_no=finished.reception_no).values_list("kind", flat=True))
    assert {"juminido", "std_jumin_ido", "std_kojin_bango_card"} <= kinds
    assert "std_tenshutsu_shomei" not in kinds  # a 転入, not a 転出
    assert finished.card_secret == ""  # handed to the outbox
    assert NUMBER not in database_dump()
    export_flush(storage=local_storage)
    batch = ExportBatch.objects.get()
    ido = _file(local_storage, batch, "std_jumin_ido")
    assert ido[0][:8] == [
        "受付番号",
        "届出日",
        "異動事由",
        "異動日",
        "世帯番号",
        "届出人氏名",
        "届出人との関係",
        "氏名",
    ]
    assert [row[0] for row in ido[1:]] == [finished.reception_no] * 2  # a row per person moving
    assert [(row[7], row[9], row[11]) for row in ido[1:]] == [
        ("葛\U000e0102西\u3000花子", "1980-01-01", "世帯主"),  # byte-exact, the IVS kept
        ("窓口\u3000一太", "2018-05-05", "子"),
    ]
    assert {row[2] for row in ido[1:]} == {"転入"}
    card = _file(local_storage, batch, "std_kojin_bango_card")
    assert card[1][-1] == NUMBER and card[1][0] == finished.reception_no


def test_the_core_systems_ok_finishes_the_reception_and_purges_the_number(
    finished: CounterSession, local_storage: LocalFolderStorage
) -> None:
    export_flush(storage=local_storage)
    finished.refresh_from_db()
    assert finished.progress == Progress.LINKED
    batch = ExportBatch.objects.get()
    local_storage.put(
        batch.result_key, f"受付番号,結果,メッセージ\r\n{finished.reception_no},OK,\r\n".encode()
    )
    assert export_results_pickup(storage=local_storage) == 1
    finished.refresh_from_db()
    assert finished.progress == Progress.DONE
    assert not ExportItem.objects.exclude(secrets="").exists()
    assert NUMBER not in database_dump()


def test_a_refused_reception_is_returned_then_corrected_and_linked_again(
    finished: CounterSession, local_storage: LocalFolderStorage, clerk, django_capture_on_commit_callbacks
) -> None:
    export_flush(storage=local_storage)
    batch = ExportBatch.objects.get()
    reason = "異動日が未来日です"
    local_storage.put(
        batch.result_key, f"受付番号,結果,メッセージ\r\n{finished.reception_no},NG,{reason}\r\n".encode()
    )
    export_results_pickup(storage=local_storage)
    finished.refresh_from_db()
    assert finished.progress == Progress.RETURNED and reason in finished.return_reason
    refused = ExportItem.objects.get(reception_no=finished.reception_no, kind="juminido")
    assert refused.status == ExportStatus.NG
    rows = [list(row) for row in refused.rows]
    with django_capture_on_commit_callbacks(execute=True):
        export_item_correct(item=refused, rows=rows, actor=clerk)
    finished.refresh_from_db()
    assert finished.progress == Progress.OUTPUT
    export_flush(storage=local_storage)
    finished.refresh_from_db()
    assert finished.progress == Progress.LINKED


def test_an_unfinished_sessions_sealed_number_is_wiped_with_its_card(clerk) -> None:
    counter = CounterFactory.create(code="shimin-2")
    session = services.counter_session_open(counter=counter, clerk=clerk)
    CounterSession.objects.filter(pk=session.pk).update(
        card={"kind": "mynumber", "status": "read"},
        card_secret=seal(NUMBER, purpose=services.INDIVIDUAL_NUMBER),
        opened_at=timezone.now() - dt.timedelta(hours=25),
    )
    assert services.sessions_wipe_signatures() == 1
    session.refresh_from_db()
    assert session.card_secret == "" and session.card == {}
