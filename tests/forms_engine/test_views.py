"""The form-admin UI (様式管理) through Django's test client: forms, fields, layouts, previews, publishing and
the form file. Every change goes through the services, so every change leaves an audit record."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from forms_engine.models import FieldDefinition, FormAsset, FormTemplate, FormVersion
from madoguchi.accounts.models import User
from madoguchi.audit.models import AuditAction, AuditEvent
from tests.factories import UserFactory, atena

pytestmark = pytest.mark.django_db


@pytest.fixture
def form_admin(db: None) -> User:
    return UserFactory.create(roles=["form_admin"])


@pytest.fixture
def admin_client(form_admin: User) -> Client:
    client = Client()
    client.force_login(form_admin)
    return client


def png(width: int = 210, height: int = 297) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def url(name: str, *args: Any) -> str:
    return reverse(f"forms_engine:{name}", args=args)


def form_changes(code: str) -> list[str]:
    """The audited changes of form ``code``, oldest first."""
    events = AuditEvent.objects.filter(
        action=AuditAction.ADMIN, target_type="form", target_ref=code
    ).order_by("id")
    return [event.detail["change"] for event in events]


def create(client: Client, code: str, mode: str = "flow") -> FormVersion:
    response = client.post(url("template_create"), {"code": code, "name": f"{code}の様式", "mode": mode})
    assert response.status_code == 302, response.content.decode()
    assert response["Location"] == url("version", code, 1)
    return FormVersion.objects.get(template__code=code, number=1)


def text(response: Any) -> str:
    return response.content.decode()


# --- access -------------------------------------------------------------------------------------------------


def test_only_form_admins_get_in(clerk_client: Client, starter_forms: None) -> None:
    pages = [url("index"), url("dictionary"), url("template", "juminido"), url("version", "juminido", 2)]
    for page in pages:
        response = Client().get(page)
        assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))
        assert clerk_client.get(page).status_code == 403
    response = clerk_client.post(url("template_create"), {"code": "x", "name": "x", "mode": "flow"})
    assert response.status_code == 403
    assert (
        clerk_client.post(url("version_layout_save", "juminido", 2), "{}", "application/json").status_code
        == 403
    )
    assert not FormTemplate.objects.filter(code="x").exists()
    # Roles are groups and none implies another: a system admin needs the form_admin role too.
    system_admin = Client()
    system_admin.force_login(UserFactory.create(roles=["system_admin"]))
    assert system_admin.get(url("index")).status_code == 403


def test_the_list_shows_forms_and_versions(admin_client: Client, starter_forms: None) -> None:
    page = text(admin_client.get(url("index")))
    assert "住民異動届" in page and "公開" in page and "2026-04-01" in page
    assert url("template_export", "juminido") in page and url("version_export", "juminido", 2) in page
    # The nav of every page links here for a form admin.
    assert f'href="{url("index")}"' in text(admin_client.get(url("dictionary")))


# --- creating a form and its fields ---------------------------------------------------------------------------


def test_create_a_form_and_add_fields(admin_client: Client, form_admin: User, starter_forms: None) -> None:
    version = create(admin_client, "inkan")
    assert version.layout["mode"] == "flow" and version.status == "draft"
    assert "inkan" in text(admin_client.get(url("index")))

    again = admin_client.post(url("template_create"), {"code": "inkan", "name": "重複", "mode": "flow"})
    assert again.status_code == 400 and "既に使われています" in text(again)
    reserved = admin_client.post(url("template_create"), {"code": "dictionary", "name": "x", "mode": "flow"})
    assert reserved.status_code == 400 and not FormTemplate.objects.filter(code="dictionary").exists()

    response = admin_client.post(url("version_field_add", "inkan", 1), {"key": "todokedenin_shimei"})
    assert response.status_code == 302
    response = admin_client.post(
        url("version_field_local", "inkan", 1),
        {
            "key": "shinsei_riyu",
            "label": "申請の理由",
            "type": "choice",
            "required": "on",
            "choices": "新規\n 再登録 \n\n",
        },
    )
    assert response.status_code == 302, text(response)
    version.refresh_from_db()
    assert [f["key"] for f in version.fields] == ["todokedenin_shimei", "shinsei_riyu"]
    assert version.fields[0]["dictionary"] is True and version.fields[0]["prefill"] == "resident.shimei"
    assert version.fields[1]["choices"] == ["新規", "再登録"] and version.fields[1]["required"] is True

    page = text(admin_client.get(url("version_fields", "inkan", 1)))
    assert "申請の理由" in page and "resident.shimei" in page
    assert "household.0." in page and "wareki" in page  # the binding help: roots and filters

    admin_client.post(url("version_field_move", "inkan", 1, "shinsei_riyu"), {"direction": "up"})
    admin_client.post(
        url("version_field_edit", "inkan", 1, "todokedenin_shimei"),
        {"label": "申請者氏名", "prefill": "household.0.shimei"},
    )
    version.refresh_from_db()
    assert [f["key"] for f in version.fields] == ["shinsei_riyu", "todokedenin_shimei"]
    edited = version.fields[1]
    assert (edited["label"], edited["required"], edited["prefill"]) == (
        "申請者氏名",
        False,
        "household.0.shimei",
    )
    admin_client.post(url("version_field_remove", "inkan", 1, "shinsei_riyu"))
    version.refresh_from_db()
    assert [f["key"] for f in version.fields] == ["todokedenin_shimei"]

    assert form_changes("inkan") == ["created"] + ["draft changed"] * 5
    assert AuditEvent.objects.filter(target_ref="inkan", actor=form_admin).count() == 6


def test_an_invalid_prefill_is_refused_and_changes_nothing(admin_client: Client, starter_forms: None) -> None:
    version = create(admin_client, "inkan")
    admin_client.post(url("version_field_add", "inkan", 1), {"key": "todokedenin_shimei"})
    version.refresh_from_db()
    before, changes = version.content(), form_changes("inkan")

    response = admin_client.post(
        url("version_field_edit", "inkan", 1, "todokedenin_shimei"),
        {"label": "氏名", "required": "on", "prefill": "resident.nickname"},
    )
    assert response.status_code == 400
    page = text(response)
    assert "fields.todokedenin_shimei.prefill" in page and "a person has no &#x27;nickname&#x27;" in page
    version.refresh_from_db()
    assert version.content() == before and form_changes("inkan") == changes

    response = admin_client.post(
        url("version_field_local", "inkan", 1), {"key": "iro", "label": "色", "type": "choice"}
    )
    assert response.status_code == 400 and "a choice field needs its choices" in text(response)
    version.refresh_from_db()
    assert version.content() == before


def test_basic_settings_and_csv_columns(admin_client: Client) -> None:
    version = create(admin_client, "inkan")
    response = admin_client.post(
        url("version", "inkan", 1),
        {"effective_from": "2027-04-01", "effective_to": "2027-03-31", "signing": "tablet", "note": ""},
    )
    assert response.status_code == 400 and "effective_to is before effective_from" in text(response)
    response = admin_client.post(
        url("version", "inkan", 1), {"effective_from": "2027-04-01", "signing": "tablet", "note": "法改正"}
    )
    assert response.status_code == 302
    version.refresh_from_db()
    assert (version.effective_from, version.signing, version.note) == (
        dt.date(2027, 4, 1),
        "tablet",
        "法改正",
    )

    csv = url("version_csv", "inkan", 1)
    admin_client.post(
        csv, {"header": ["氏名", "受付番号"], "value": ["resident.shimei", "session.reception_no"]}
    )
    version.refresh_from_db()
    assert [c["header"] for c in version.csv_columns] == ["氏名", "受付番号"]
    admin_client.post(
        csv,
        {
            "header": ["氏名", "受付番号", "届出日"],
            "value": ["resident.shimei", "session.reception_no", "today|iso"],
            "action": "up:1",
        },
    )
    version.refresh_from_db()
    assert [c["header"] for c in version.csv_columns] == ["受付番号", "氏名", "届出日"]
    admin_client.post(
        csv,
        {
            "header": ["受付番号", "氏名", "届出日", ""],
            "value": ["session.reception_no", "resident.shimei", "today", ""],
            "action": "remove:1",
        },
    )
    version.refresh_from_db()
    assert [c["value"] for c in version.csv_columns] == ["session.reception_no", "today"]
    response = admin_client.post(
        csv, {"header": ["受付番号", "x"], "value": ["session.reception_no", "session.nope"]}
    )
    assert response.status_code == 400 and "csv_columns.1.value" in text(response)
    version.refresh_from_db()
    assert len(version.csv_columns) == 2


# --- overlay: backgrounds and the designer's JSON endpoint --------------------------------------------------------


def overlay_with_background(client: Client, code: str = "kosekisho") -> FormVersion:
    create(client, code, mode="overlay")
    client.post(
        url("version_field_local", code, 1),
        {"key": "birth", "label": "生年月日", "type": "date", "prefill": "resident.birth_date"},
    )
    image = SimpleUploadedFile("スキャン.png", png(), content_type="image/png")
    response = client.post(url("version_page_background", code, 1, 1), {"image": image})
    assert response.status_code == 302, text(response)
    return FormVersion.objects.get(template__code=code, number=1)


def test_background_upload_and_layout_save(admin_client: Client) -> None:
    version = overlay_with_background(admin_client)
    assert version.layout["pages"] == [{"background": "page1.png"}]
    asset = FormAsset.objects.get(version=version)
    assert asset.content_type == "image/png"
    served = admin_client.get(url("version_asset", "kosekisho", 1, "page1.png"))
    assert served["Content-Type"] == "image/png" and served.content == bytes(asset.data)
    page = text(admin_client.get(url("version_layout", "kosekisho", 1)))
    assert 'id="designer-data"' in page and "js/form-designer.js" in page

    not_an_image = SimpleUploadedFile("scan.png", b"not an image", content_type="image/png")
    response = admin_client.post(url("version_page_background", "kosekisho", 1, 1), {"image": not_an_image})
    assert response.status_code == 400 and FormAsset.objects.filter(version=version).count() == 1

    layout = {
        **version.layout,
        "placements": [
            {"value": "fields.birth|wareki", "x": 40, "y": 50.5, "width": 50, "height": 7, "font_size": 12}
        ],
        "qr": {"x": 180, "y": 10, "size": 20},
    }
    save = url("version_layout_save", "kosekisho", 1)
    response = admin_client.post(save, json.dumps(layout), content_type="application/json")
    assert response.status_code == 200 and response.json() == {"ok": True}
    version.refresh_from_db()
    assert version.layout["placements"][0]["value"] == "fields.birth|wareki"
    assert (version.layout["placements"][0]["y"], version.layout["qr"]["size"]) == (50.5, 20)

    before = version.content()
    wrong = {**layout, "placements": [{"value": "fields.nope", "x": 200, "y": 10, "width": 50}]}
    response = admin_client.post(save, json.dumps(wrong), content_type="application/json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert any("reaches beyond the A4 page" in line for line in errors), errors
    response = admin_client.post(save, "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["errors"]
    version.refresh_from_db()
    assert version.content() == before

    admin_client.post(url("version_page_add", "kosekisho", 1))
    version.refresh_from_db()
    assert len(version.layout["pages"]) == 2
    admin_client.post(url("version_page_remove", "kosekisho", 1, 2))
    version.refresh_from_db()
    assert version.layout["pages"] == [{"background": "page1.png"}]
    assert form_changes("kosekisho") == [
        "created",
        "draft changed",
        "background stored",
        "draft changed",
        "draft changed",
        "draft changed",
        "draft changed",
    ]


# --- checking, previewing, publishing ----------------------------------------------------------------------------


def test_preview_with_sample_data_and_with_a_resident(
    admin_client: Client, form_admin: User, small_city: Any
) -> None:
    overlay_with_background(admin_client)
    layout = FormVersion.objects.get(template__code="kosekisho").layout
    layout = {**layout, "placements": [{"value": "resident.shimei", "x": 20, "y": 20}]}
    admin_client.post(
        url("version_layout_save", "kosekisho", 1), json.dumps(layout), content_type="application/json"
    )
    preview = url("version_preview", "kosekisho", 1)

    sample = admin_client.get(preview)
    assert sample.status_code == 200 and sample["Content-Type"] == "application/pdf"
    assert sample.content.startswith(b"%PDF") and sample["Cache-Control"] == "no-store"
    assert not AuditEvent.objects.filter(action=AuditAction.VIEW).exists()

    resident = admin_client.get(preview, {"source": "resident", "ref": atena(1)})
    assert resident.status_code == 200 and resident["Content-Type"] == "application/pdf"
    views = AuditEvent.objects.filter(action=AuditAction.VIEW, target_type="resident", actor=form_admin)
    assert list(views.values_list("target_ref", flat=True)) == [atena(1)]

    nobody = admin_client.get(preview, {"source": "resident", "ref": "0000000000"})
    assert nobody.status_code == 404 and "その宛名番号の住民はいません" in text(nobody)
    assert views.count() == 1


def test_a_draft_that_does_not_check_shows_its_problems_instead_of_a_pdf(admin_client: Client) -> None:
    create(admin_client, "inkan")
    response = admin_client.post(
        url("version_layout_flow", "inkan", 1), {"body": "<p>{{ secret.key }}</p>", "css": ""}
    )
    assert response.status_code == 302
    check = text(admin_client.get(url("version_check", "inkan", 1)))
    assert "layout.body:" in check and "secret" in check and "問題はありません" not in check
    preview = admin_client.get(url("version_preview", "inkan", 1))
    assert preview.status_code == 400 and preview["Content-Type"].startswith("text/html")
    assert "layout.body:" in text(preview)
    refused = admin_client.post(url("version_publish", "inkan", 1), {"confirm": "on"})
    assert refused.status_code == 400 and "layout.body:" in text(refused)
    assert FormVersion.objects.get(template__code="inkan").status == "draft"


def test_validate_publish_and_a_published_version_never_changes(admin_client: Client) -> None:
    version = overlay_with_background(admin_client)
    assert "問題はありません" in text(admin_client.get(url("version_check", "kosekisho", 1)))

    unconfirmed = admin_client.post(url("version_publish", "kosekisho", 1))
    assert unconfirmed.status_code == 400 and "確認" in text(unconfirmed)
    response = admin_client.post(url("version_publish", "kosekisho", 1), {"confirm": "on"})
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.is_published and version.published_by is not None
    assert form_changes("kosekisho")[-1] == "published"

    page = text(admin_client.get(url("version", "kosekisho", 1)))
    assert "公開済みのため変更できません" in page and 'name="note"' not in page
    layout_page = text(admin_client.get(url("version_layout", "kosekisho", 1)))
    assert '"readonly": true' in layout_page and "背景を登録" not in layout_page

    before, changes = version.content(), form_changes("kosekisho")
    image = SimpleUploadedFile("scan.png", png(), content_type="image/png")
    attempts = [
        (url("version", "kosekisho", 1), {"signing": "paper", "note": "変更"}),
        (url("version_field_local", "kosekisho", 1), {"key": "x", "label": "x", "type": "mj_text"}),
        (url("version_field_edit", "kosekisho", 1, "birth"), {"label": "x"}),
        (url("version_field_remove", "kosekisho", 1, "birth"), {}),
        (url("version_layout_flow", "kosekisho", 1), {"body": "x"}),
        (url("version_page_add", "kosekisho", 1), {}),
        (url("version_page_background", "kosekisho", 1, 1), {"image": image}),
        (url("version_csv", "kosekisho", 1), {"header": ["a"], "value": ["today"]}),
        (url("version_publish", "kosekisho", 1), {"confirm": "on"}),
        (url("version_delete", "kosekisho", 1), {"confirm": "on"}),
    ]
    for address, data in attempts:
        response = admin_client.post(address, data)
        assert response.status_code in (400, 403), address
        assert "公開済み" in text(response) or "published" in text(response), address
    response = admin_client.post(
        url("version_layout_save", "kosekisho", 1),
        json.dumps(version.layout),
        content_type="application/json",
    )
    assert response.status_code == 403 and "公開済み" in response.json()["errors"][0]
    version.refresh_from_db()
    assert version.content() == before and form_changes("kosekisho") == changes
    assert FormAsset.objects.filter(version=version).count() == 1

    # A change is a new version, copied from the published one with its background.
    response = admin_client.post(url("draft_create", "kosekisho"), {"source": "1"})
    assert response.status_code == 302 and response["Location"] == url("version", "kosekisho", 2)
    draft = FormVersion.objects.get(template__code="kosekisho", number=2)
    assert draft.fields == version.fields and draft.assets.count() == 1
    assert form_changes("kosekisho")[-1] == "draft created"


def test_delete_a_draft(admin_client: Client) -> None:
    create(admin_client, "inkan")
    admin_client.post(url("draft_create", "inkan"), {"source": ""})
    assert admin_client.post(url("version_delete", "inkan", 2)).status_code == 400
    response = admin_client.post(url("version_delete", "inkan", 2), {"confirm": "on"})
    assert response.status_code == 302 and response["Location"] == url("template", "inkan")
    assert list(FormVersion.objects.filter(template__code="inkan").values_list("number", flat=True)) == [1]
    assert form_changes("inkan") == ["created", "draft created", "draft deleted"]


# --- the form file ------------------------------------------------------------------------------------------


def test_export_and_import_round_trip(admin_client: Client) -> None:
    overlay_with_background(admin_client)
    admin_client.post(url("version_publish", "kosekisho", 1), {"confirm": "on"})
    admin_client.post(url("draft_create", "kosekisho"), {"source": "1"})

    exported = admin_client.get(url("template_export", "kosekisho"))
    assert exported["Content-Disposition"] == 'attachment; filename="kosekisho.madoguchi-form.json"'
    content = exported.content
    data = json.loads(content)
    assert [v["number"] for v in data["versions"]] == [1, 2] and list(data["assets"]) == ["page1.png"]
    one = admin_client.get(url("version_export", "kosekisho", 1))
    assert [v["number"] for v in json.loads(one.content)["versions"]] == [1]
    assert form_changes("kosekisho")[-2:] == ["exported", "exported"]

    versions = FormVersion.objects.count()
    upload = SimpleUploadedFile("kosekisho.madoguchi-form.json", content, content_type="application/json")
    response = admin_client.post(url("template_import"), {"file": upload}, follow=True)
    assert "同じ内容の版は既にあります: 第1版、第2版" in text(response)
    assert FormVersion.objects.count() == versions

    # The same file under another code arrives whole: both versions, the published one published, the image.
    copy = json.dumps({**data, "code": "kosekisho-copy"}).encode()
    upload = SimpleUploadedFile("copy.madoguchi-form.json", copy, content_type="application/json")
    response = admin_client.post(url("template_import"), {"file": upload}, follow=True)
    assert "新しい版: 第1版、第2版" in text(response)
    original = FormVersion.objects.get(template__code="kosekisho", number=1)
    imported = FormVersion.objects.get(template__code="kosekisho-copy", number=1)
    assert imported.content() == original.content() and imported.is_published
    assert bytes(imported.assets.get().data) == bytes(original.assets.get().data)
    assert form_changes("kosekisho-copy") == ["imported"]


def test_a_malformed_file_shows_every_problem_and_changes_nothing(admin_client: Client) -> None:
    counts = FormTemplate.objects.count(), FormVersion.objects.count(), AuditEvent.objects.count()
    upload = SimpleUploadedFile(
        "broken.json", b'{"format": "madoguchi-form/2", ', content_type="application/json"
    )
    response = admin_client.post(url("template_import"), {"file": upload})
    assert response.status_code == 400 and "broken.json: not valid JSON" in text(response)

    bad = {
        "format": "madoguchi-form/2",
        "code": "bad",
        "name": "壊れた様式",
        "versions": [
            {
                "number": 1,
                "layout": {"mode": "flow", "body": "x"},
                "fields": [{"key": "Upper", "label": "x", "type": "colour"}],
            }
        ],
    }
    upload = SimpleUploadedFile(
        "bad.madoguchi-form.json", json.dumps(bad).encode(), content_type="application/json"
    )
    response = admin_client.post(url("template_import"), {"file": upload})
    assert response.status_code == 400
    page = text(response)
    assert "bad.madoguchi-form.json:" in page
    assert "versions.0.fields.0.key" in page and "versions.0.fields.0.type" in page
    assert (FormTemplate.objects.count(), FormVersion.objects.count(), AuditEvent.objects.count()) == counts


# --- the field dictionary -----------------------------------------------------------------------------------


def test_the_field_dictionary(admin_client: Client, form_admin: User, starter_forms: None) -> None:
    page = text(admin_client.get(url("dictionary")))
    assert "todokedenin_shimei" in page and "届出人氏名" in page
    edit = text(admin_client.get(url("dictionary"), {"key": "todokedenin_shimei"}))
    assert "Name of the person notifying" in edit and "readonly" in edit

    data = {
        "key": "kokuseki",
        "label": "国籍",
        "type": "mj_text",
        "max_length": "50",
        "prefill": "",
        "label_en": "Nationality",
        "help_vi": "Quốc tịch",
    }
    response = admin_client.post(url("dictionary"), data)
    assert response.status_code == 302
    spec = FieldDefinition.objects.get(key="kokuseki").field_spec()
    assert spec.label_in("en") == "Nationality" and spec.translations["vi"].help == "Quốc tịch"
    assert spec.max_length == 50 and spec.dictionary
    assert AuditEvent.objects.filter(target_type="field", target_ref="kokuseki", actor=form_admin).exists()

    response = admin_client.post(url("dictionary"), {**data, "type": "choice"})
    assert response.status_code == 400 and "a choice field needs its choices" in text(response)
    response = admin_client.post(url("dictionary"), {**data, "prefill": "resident.nickname"})
    assert response.status_code == 400 and "a person has no" in text(response)
    assert FieldDefinition.objects.get(key="kokuseki").type == "mj_text"
