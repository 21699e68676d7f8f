"""The outbound admin pages (issue 7 point 4): destinations, batches with their re-send, the refused receptions and
their correction page, which shows the stored values but never the sealed individual number."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings

from integrations.models import ExportBatch, ExportDestination, ExportItem, ExportStatus
from integrations.outbound import ExportRows, export_flush, export_results_pickup, outbox_put
from integrations.storage import LocalFolderStorage
from madoguchi.audit.models import AuditAction, AuditEvent
from tests.conftest import IVS_NAME
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NUMBER = "123456789018"
SEALED = "（暗号化のため表示しません）"


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Settings) -> None:
    # Staff log in here in every test; the production hasher would take most of the time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    user = UserFactory.create(roles=["system_admin"], is_staff=True, is_superuser=True)
    assert client.login(username=user.username, password=PASSWORD)
    return client


def staff_client(*permissions: str) -> Client:
    user = UserFactory.create(is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=permissions))
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def refused(storage: LocalFolderStorage, reception_no: str = "R1") -> ExportBatch:
    """A reception with a 住民異動届 row (an IVS name) and a card row (a sealed number), written and refused."""
    outbox_put(
        reception_no=reception_no,
        exports=[
            ExportRows("juminido", "juminido@1", ["受付番号", "氏名", "住所"],
                       [[reception_no, IVS_NAME, "窓口市本町1-1"]]),
            ExportRows("std_kojin_bango_card", "std_kojin_bango_card@1", ["受付番号", "氏名", "個人番号"],
                       [[reception_no, "窓口　花子", NUMBER]], frozenset({"個人番号"})),
        ],
    )  # fmt: skip
    export_flush(storage=storage)
    batch = ExportBatch.objects.order_by("-pk")[0]
    storage.put(
        batch.result_key, f"受付番号,結果,メッセージ\r\n{reception_no},NG,住所の番地が不正です\r\n".encode()
    )
    assert export_results_pickup(storage=storage) == 1
    return batch


def sent(storage: LocalFolderStorage) -> ExportBatch:
    """A reception of one 住民異動届 row, written."""
    outbox_put(
        reception_no="R1",
        exports=[ExportRows("juminido", "juminido@1", ["受付番号", "氏名"], [["R1", "山田"]])],
    )
    export_flush(storage=storage)
    return ExportBatch.objects.get()


def correct_url(item: ExportItem) -> str:
    return reverse("admin:integrations_exportitem_correct", args=[item.pk])


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


# --- correcting a refused reception ---------------------------------------------------------------------------


def test_a_refused_reception_is_corrected_through_the_admin_and_exported_again(
    admin_client: Client, local_storage: LocalFolderStorage
) -> None:
    refused(local_storage)
    listing = admin_client.get(reverse("admin:integrations_exportitem_changelist")).content.decode()
    assert "住所の番地が不正です" in listing and "取込エラーの受付 (2)" in listing
    assert "窓口市本町" not in listing and "窓口　花子" not in listing  # the list never shows the values

    card = ExportItem.objects.get(kind="std_kojin_bango_card")
    page = admin_client.get(correct_url(card)).content.decode()
    assert "窓口　花子" in page and SEALED in page and NUMBER not in page
    assert AuditEvent.objects.filter(
        action=AuditAction.VIEW, target_type="export_item", target_ref="R1", detail__kind=card.kind
    ).exists()

    item = ExportItem.objects.get(kind="juminido")
    page = admin_client.get(correct_url(item)).content.decode()
    assert f'value="{IVS_NAME}"' in page  # byte-exact, the variation selector kept
    response = admin_client.post(
        correct_url(item), {"r0_c0": "R1", "r0_c1": IVS_NAME, "r0_c2": "窓口市本町1-2"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:integrations_exportitem_changelist")
    assert "受付 R1 を再出力待ちにしました" in admin_client.get(response["Location"]).content.decode()
    newer = ExportItem.objects.get(kind="juminido", revision=2)
    assert newer.status == ExportStatus.PENDING and newer.rows == [["R1", IVS_NAME, "窓口市本町1-2"]]
    assert ExportItem.objects.get(pk=item.pk).status == ExportStatus.SUPERSEDED
    assert AuditEvent.objects.filter(
        action=AuditAction.ADMIN, target_type="export_item", detail__columns=["住所"]
    ).exists()

    # The card: the sealed cell is not sent (a value typed into it anyway is ignored) and the number carried over.
    admin_client.post(correct_url(card), {"r0_c0": "R1", "r0_c1": "窓口　花子", "r0_c2": "999999999999"})
    export_flush()
    second = ExportBatch.objects.order_by("-pk")[0]
    assert csv_rows(local_storage.get(f"{second.prefix}{second.name}_juminido_v1.csv"))[1:] == [
        ["R1", IVS_NAME, "窓口市本町1-2"]
    ]
    assert csv_rows(local_storage.get(f"{second.prefix}{second.name}_std_kojin_bango_card_v1.csv"))[1:] == [
        ["R1", "窓口　花子", NUMBER]
    ]


def test_a_formula_is_refused_naming_its_column_and_nothing_changes(
    admin_client: Client, local_storage: LocalFolderStorage
) -> None:
    refused(local_storage)
    item = ExportItem.objects.get(kind="juminido")
    events = AuditEvent.objects.count()
    response = admin_client.post(
        correct_url(item), {"r0_c0": "R1", "r0_c1": "=1+1", "r0_c2": "窓口市本町1-2"}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "row 1, column 氏名" in page and 'value="=1+1"' in page and 'value="窓口市本町1-2"' in page
    assert ExportItem.objects.filter(kind="juminido").count() == 1
    assert ExportItem.objects.get(pk=item.pk).status == ExportStatus.NG
    # Only the view of the re-shown page is recorded, no correction.
    assert list(AuditEvent.objects.order_by("pk")[events:].values_list("action", flat=True)) == [
        AuditAction.VIEW
    ]


def test_a_value_with_a_line_break_sent_back_unchanged_stays_byte_exact(
    admin_client: Client, local_storage: LocalFolderStorage
) -> None:
    refused(local_storage)
    item = ExportItem.objects.get(kind="juminido")
    ExportItem.objects.filter(pk=item.pk).update(rows=[["R1", IVS_NAME, "窓口市本町1-1\nメゾン窓口"]])
    page = admin_client.get(correct_url(item)).content.decode()
    assert "<textarea" in page
    # A browser sends a textarea's line breaks as CRLF.
    admin_client.post(
        correct_url(item), {"r0_c0": "R1", "r0_c1": IVS_NAME, "r0_c2": "窓口市本町1-1\r\nメゾン窓口"}
    )
    assert ExportItem.objects.get(revision=2, kind="juminido").rows == [
        ["R1", IVS_NAME, "窓口市本町1-1\nメゾン窓口"]
    ]


def test_only_a_refused_item_can_be_corrected(
    admin_client: Client, local_storage: LocalFolderStorage
) -> None:
    sent(local_storage)
    item = ExportItem.objects.get()
    assert item.state == ExportStatus.SENT
    for response in (
        admin_client.get(correct_url(item)),
        admin_client.post(correct_url(item), {"r0_c0": "R1", "r0_c1": "山田　太郎"}),
    ):
        assert response.status_code == 302
        assert response["Location"] == reverse("admin:integrations_exportitem_change", args=[item.pk])
    assert ExportItem.objects.count() == 1 and ExportItem.objects.get().rows == [["R1", "山田"]]
    assert not AuditEvent.objects.filter(target_type="export_item").exists()


def test_correcting_needs_the_change_permission(local_storage: LocalFolderStorage) -> None:
    refused(local_storage)
    item = ExportItem.objects.get(kind="std_kojin_bango_card")
    viewer = staff_client("view_exportitem")
    assert viewer.get(reverse("admin:integrations_exportitem_change", args=[item.pk])).status_code == 200
    assert viewer.get(correct_url(item)).status_code == 403
    assert viewer.post(correct_url(item), {"r0_c0": "R1", "r0_c1": "x"}).status_code == 403
    clerk = Client()
    clerk.login(username=UserFactory.create(roles=["clerk"]).username, password=PASSWORD)
    response = clerk.get(correct_url(item))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert ExportItem.objects.count() == 2
    assert not AuditEvent.objects.filter(target_type="export_item").exists()
    corrector = staff_client("change_exportitem")
    assert corrector.get(correct_url(item)).status_code == 200


# --- batches ----------------------------------------------------------------------------------------------------


def test_a_batch_is_listed_and_shown_with_its_items_and_result_report(
    admin_client: Client, local_storage: LocalFolderStorage
) -> None:
    batch = sent(local_storage)
    local_storage.put(batch.result_key, "受付番号,結果,メッセージ\r\nR1,OK,\r\nR9,NG,x\r\n".encode())
    export_results_pickup(storage=local_storage)
    listing = admin_client.get(
        reverse("admin:integrations_exportbatch_changelist") + "?written=yes&result=yes"
    )
    assert batch.name in listing.content.decode()
    page = admin_client.get(
        reverse("admin:integrations_exportbatch_change", args=[batch.pk])
    ).content.decode()
    assert "R1" in page and "取込済" in page and "山田" not in page
    report = admin_client.get(reverse("admin:integrations_exportbatch_result_report", args=[batch.pk]))
    assert report.status_code == 200 and "the batch holds no such reception" in report.content.decode()
    assert AuditEvent.objects.filter(
        action=AuditAction.VIEW, target_type="export_result_report", target_ref=batch.name
    ).exists()


def test_the_item_list_shows_each_rows_batch_and_state_and_a_batchs_link_lists_its_rows(
    admin_client: Client, local_storage: LocalFolderStorage
) -> None:
    batch = sent(local_storage)
    outbox_put(
        reception_no="R2",
        exports=[ExportRows("juminido", "juminido@1", ["受付番号", "氏名"], [["R2", "山田"]])],
    )  # waiting for the next flush
    listing = admin_client.get(reverse("admin:integrations_exportitem_changelist") + "?status=all")
    rows = {
        found[1]: line
        for line in listing.content.decode().split("<tr")
        if (found := re.search(r'field-reception_no">(R\d)<', line))
    }
    assert "出力済" in rows["R1"] and batch.name in rows["R1"]
    assert "出力待ち" in rows["R2"] and batch.name not in rows["R2"]
    sent_only = admin_client.get(reverse("admin:integrations_exportitem_changelist") + "?status=sent")
    assert ">R1<" in sent_only.content.decode() and ">R2<" not in sent_only.content.decode()
    of_batch = admin_client.get(
        reverse("admin:integrations_exportitem_changelist") + f"?batch={batch.pk}&status=all"
    ).content.decode()
    assert ">R1<" in of_batch and ">R2<" not in of_batch
    page = admin_client.get(reverse("admin:integrations_exportitem_change", args=[ExportItem.objects.get(
        reception_no="R1").pk])).content.decode()  # fmt: skip
    assert batch.name in page and "出力済" in page


def test_the_resend_action_marks_written_batches_and_audits(
    admin_client: Client, local_storage: LocalFolderStorage
) -> None:
    written = sent(local_storage)
    unwritten = ExportBatch.objects.create(destination=written.destination, day=written.day, seq=2)
    response = admin_client.post(
        reverse("admin:integrations_exportbatch_changelist"),
        {"action": "resend", "_selected_action": [written.pk, unwritten.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert f"{written.name} を次回の出力で再送します" in page and "未出力のバッチ 1 件" in page
    written.refresh_from_db()
    unwritten.refresh_from_db()
    assert written.resend_requested and not unwritten.resend_requested
    event = AuditEvent.objects.get(action=AuditAction.ADMIN, target_type="export_batch")
    assert event.target_ref == written.name and event.detail == {"action": "resend"}
    assert export_flush(storage=local_storage) == [written.manifest_key, unwritten.manifest_key]


def test_a_batch_cannot_be_added_changed_or_deleted(
    admin_client: Client, local_storage: LocalFolderStorage
) -> None:
    batch = sent(local_storage)
    assert admin_client.get(reverse("admin:integrations_exportbatch_add")).status_code == 403
    assert (
        admin_client.get(reverse("admin:integrations_exportbatch_delete", args=[batch.pk])).status_code == 403
    )
    item = ExportItem.objects.get()
    assert (
        admin_client.get(reverse("admin:integrations_exportitem_delete", args=[item.pk])).status_code == 403
    )
    page = admin_client.get(reverse("admin:integrations_exportitem_change", args=[item.pk])).content.decode()
    assert 'name="_save"' not in page and "山田" not in page


# --- destinations -----------------------------------------------------------------------------------------------


def test_a_destination_is_saved_with_its_lists_and_audited(admin_client: Client) -> None:
    url = reverse("admin:integrations_exportdestination_add")
    form = {"code": "legacy", "name": "旧基幹", "prefix": "legacy/", "repertoire": "jisx0213", "active": "on"}
    bad = admin_client.post(url, {**form, "degraded_columns": "氏名,,住所", "kinds": ""})
    assert "1 行目に空の名前があります" in bad.content.decode()
    bad = admin_client.post(url, {**form, "prefix": "legacy", "degraded_columns": "", "kinds": ""})
    assert "「/」で終わる相対パス" in bad.content.decode()
    assert not ExportDestination.objects.exists() and not AuditEvent.objects.exists()

    good = admin_client.post(
        url, {**form, "degraded_columns": "氏名\r\n住所、方書\r\n", "kinds": "juminido, tenshutsu"}
    )
    assert good.status_code == 302
    destination = ExportDestination.objects.get()
    assert destination.degraded_columns == ["氏名", "住所", "方書"]
    assert destination.kinds == ["juminido", "tenshutsu"]
    event = AuditEvent.objects.get(target_type="export_destination")
    assert (
        event.action == AuditAction.ADMIN and event.target_ref == "legacy" and event.detail["action"] == "add"
    )

    change = reverse("admin:integrations_exportdestination_change", args=[destination.pk])
    assert "氏名\n住所\n方書" in admin_client.get(change).content.decode()
    admin_client.post(
        change, {**form, "bom": "on", "degraded_columns": "氏名\n住所\n方書", "kinds": "juminido,tenshutsu"}
    )
    event = AuditEvent.objects.filter(target_type="export_destination").latest("pk")
    assert event.detail == {"action": "change", "changes": {"bom": [False, True]}}


def test_two_active_destinations_cannot_take_the_same_kind(admin_client: Client) -> None:
    ExportDestination.objects.create(code="core", name="基幹", prefix="core/", kinds=["juminido"])
    response = admin_client.post(
        reverse("admin:integrations_exportdestination_add"),
        {
            "code": "rpa",
            "name": "RPA",
            "prefix": "rpa/",
            "repertoire": "mj",
            "active": "on",
            "kinds": "juminido",
        },
    )
    assert "有効な出力先「core」も指定しています" in response.content.decode()
    assert ExportDestination.objects.count() == 1


def test_a_new_prefix_is_for_later_batches_and_a_sent_batch_keeps_its_own(
    admin_client: Client, local_storage: LocalFolderStorage
) -> None:
    first = sent(local_storage)
    destination = ExportDestination.objects.get()
    form = {"code": destination.code, "name": destination.name, "repertoire": "mj", "active": "on"}
    change = reverse("admin:integrations_exportdestination_change", args=[destination.pk])
    assert admin_client.post(change, {**form, "prefix": "moved/"}).status_code == 302
    first.refresh_from_db()
    assert first.prefix.startswith(destination.prefix) and first.result_key.startswith(destination.prefix)
    local_storage.put(first.result_key, "受付番号,結果,メッセージ\r\nR1,OK,\r\n".encode())
    assert export_results_pickup(storage=local_storage) == 1  # read where it was sent
    outbox_put(reception_no="R9", exports=[ExportRows("juminido", "juminido@1", ["受付番号"], [["R9"]])])
    (key,) = export_flush(storage=local_storage)
    assert key.startswith("moved/")


def test_the_correction_page_warns_when_the_sealed_number_is_gone(
    admin_client: Client, local_storage: LocalFolderStorage
) -> None:
    refused(local_storage)
    card = ExportItem.objects.get(kind="std_kojin_bango_card")
    ExportItem.objects.filter(pk=card.pk).update(secrets="", secrets_purged_at=card.created_at)
    page = admin_client.get(correct_url(card)).content.decode()
    # The column stays closed (it is known from the layout), and the admin is told it will go out empty.
    assert "消去済みです" in page and SEALED in page
