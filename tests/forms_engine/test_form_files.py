"""The form file (export / import), drafts and publishing, published immutability and filling.

A form admin builds forms through these services; a city shares them as one file. Every change is audited, a
refused file or edit changes nothing, and a published version never changes.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from PIL import Image
from pytest_django.fixtures import Settings

from forms_engine.models import (
    FieldDefinition,
    FormAsset,
    FormTemplate,
    FormVersion,
    PublishedVersionImmutable,
    VersionStatus,
)
from forms_engine.schema import FieldSpec
from forms_engine.selectors import form_sample_context, form_version_current
from forms_engine.services import (
    FormEditError,
    FormFileInvalid,
    field_definition_save,
    form_asset_put,
    form_file_export,
    form_file_import,
    form_fill,
    form_prefill,
    form_starter_pack_load,
    form_template_create,
    form_version_delete,
    form_version_draft_create,
    form_version_field_add,
    form_version_publish,
    form_version_update,
    version_problems,
)
from madoguchi.accounts.models import User
from madoguchi.audit.models import AuditAction, AuditEvent
from tests.conftest import IVS_NAME
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(settings: Settings) -> User:
    # A fast hasher: the form admin only acts here, never logs in.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return UserFactory.create(roles=["form_admin"])


def png(colour: str = "white", size: tuple[int, int] = (42, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


OVERLAY_FIELDS = [
    {"key": "shimei", "label": "氏名", "type": "mj_text", "required": True, "prefill": "resident.shimei"},
    {"key": "birth_date", "label": "生年月日", "type": "date", "prefill": "resident.birth_date"},
    {"key": "agree", "label": "同意", "type": "checkbox"},
]


def overlay_content(background: str = "page1.png") -> dict[str, Any]:
    return {
        "signing": "paper",
        "fields": copy.deepcopy(OVERLAY_FIELDS),
        "layout": {
            "mode": "overlay",
            "pages": [{"background": background}],
            "placements": [
                {"value": "fields.shimei", "x": 30, "y": 40, "width": 80},
                {"value": "fields.birth_date|wareki", "x": 30, "y": 50},
                {"value": "fields.agree", "x": 30, "y": 60, "width": 5, "height": 5, "kind": "check"},
            ],
        },
        "csv_columns": [{"header": "氏名", "value": "fields.shimei"}],
    }


def overlay_form(actor: Any, *, code: str = "inkan", image: bytes | None = None) -> FormVersion:
    """A published overlay form built the way a form admin builds one: create, upload, edit, publish."""
    version = form_template_create(code=code, name="印鑑登録申請書", mode="overlay", actor=actor)
    form_asset_put(
        version=version, name="page1.png", content=image or png(), content_type="image/png", actor=actor
    )
    version = form_version_update(version=version, content=overlay_content(), actor=actor)
    return form_version_publish(version=version, actor=actor)


def snapshot(code: str) -> dict[int, dict[str, Any]]:
    """What a form is, version by version: its content and its images (name → type, sha256 of the bytes)."""
    return {
        version.number: {
            "content": version.content(),
            "assets": {
                asset.name: (asset.content_type, asset.sha256, hashlib.sha256(bytes(asset.data)).hexdigest())
                for asset in version.assets.all()
            },
        }
        for version in FormVersion.objects.filter(template__code=code)
    }


def background_hashes(code: str) -> dict[int, list[str]]:
    """Each version's page backgrounds as the sha256 of their bytes, whatever their names."""
    result = {}
    for version in FormVersion.objects.filter(template__code=code):
        data = {asset.name: bytes(asset.data) for asset in version.assets.all()}
        result[version.number] = [
            hashlib.sha256(data[page["background"]]).hexdigest() if page.get("background") else ""
            for page in version.layout.get("pages", [])
        ]
    return result


def counts() -> tuple[int, int, int, int]:
    return (
        FormTemplate.objects.count(),
        FormVersion.objects.count(),
        FormAsset.objects.count(),
        AuditEvent.objects.count(),
    )


def audits(change: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(detail__change=change).order_by("id"))


# --- a small form file built in the test -------------------------------------------------------------------

PAGE = png("white")


def asset_entry(content: bytes, content_type: str = "image/png") -> dict[str, str]:
    return {
        "content_type": content_type,
        "sha256": hashlib.sha256(content).hexdigest(),
        "data": base64.b64encode(content).decode("ascii"),
    }


def small_file() -> dict[str, Any]:
    """A valid file: a published overlay version 1 with its background, and a flowing draft version 2."""
    return {
        "format": "madoguchi-form/2",
        "code": "kosodate",
        "name": "子ども医療費助成 申請書",
        "versions": [
            {"number": 1, "status": "published", **overlay_content()},
            {
                "number": 2,
                "status": "draft",
                "fields": copy.deepcopy(OVERLAY_FIELDS),
                "layout": {
                    "mode": "flow",
                    "body": "<p>{{ fields.shimei }} {{ fields.birth_date|wareki }}</p>",
                },
            },
        ],
        "assets": {"page1.png": asset_entry(PAGE)},
    }


def encode(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


class TestExportImport:
    def test_round_trip_into_an_empty_database(self, admin: User) -> None:
        with transaction.atomic():
            form_starter_pack_load()
            overlay = overlay_form(admin)
            form_version_draft_create(template=overlay.template, source=overlay, actor=admin)
            codes = ["juminido", "inkan"]
            before = {code: snapshot(code) for code in codes}
            exported = {
                code: form_file_export(template=FormTemplate.objects.get(code=code), actor=admin)
                for code in codes
            }
            transaction.set_rollback(True)  # back to an empty database
        assert counts() == (0, 0, 0, 0)

        results = {
            code: form_file_import(content=exported[code], source=f"{code}.json", actor=admin)
            for code in codes
        }

        assert results["juminido"].created == (2,)
        assert results["inkan"].created == (1, 2)
        for code in codes:
            assert snapshot(code) == before[code]
        assert FormVersion.objects.get(template__code="inkan", number=1).status == VersionStatus.PUBLISHED
        assert FormVersion.objects.get(template__code="inkan", number=2).status == VersionStatus.DRAFT
        stored = FormAsset.objects.get(version__template__code="inkan", version__number=1, name="page1.png")
        assert hashlib.sha256(bytes(stored.data)).hexdigest() == before["inkan"][1]["assets"]["page1.png"][2]
        assert FormTemplate.objects.get(code="inkan").name == "印鑑登録申請書"

    def test_background_bytes_survive_the_file(self, admin: User) -> None:
        image = png("#f0e0d0", (120, 170))
        overlay = overlay_form(admin, image=image)
        data = json.loads(form_file_export(template=overlay.template, actor=admin))
        entry = data["assets"]["page1.png"]
        assert base64.b64decode(entry["data"]) == image
        assert entry["sha256"] == hashlib.sha256(image).hexdigest()
        data["code"] = "inkan-copy"
        form_file_import(content=encode(data), source="inkan-copy.json", actor=admin)
        copied = FormAsset.objects.get(version__template__code="inkan-copy", name="page1.png")
        assert bytes(copied.data) == image
        assert copied.content_type == "image/png"

    def test_export_of_chosen_versions(self, admin: User) -> None:
        overlay = overlay_form(admin)
        form_version_draft_create(template=overlay.template, source=overlay, actor=admin)
        data = json.loads(form_file_export(template=overlay.template, numbers=[2], actor=admin))
        assert [version["number"] for version in data["versions"]] == [2]
        assert data["format"] == "madoguchi-form/2" and data["code"] == "inkan"

    def test_importing_the_same_file_again_changes_nothing(self, admin: User) -> None:
        first = form_file_import(content=encode(small_file()), source="kosodate.json", actor=admin)
        assert first.created == (1, 2) and first.unchanged == ()
        before, state = counts(), snapshot("kosodate")

        again = form_file_import(content=encode(small_file()), source="kosodate.json", actor=admin)

        assert again.created == () and again.unchanged == (1, 2)
        assert snapshot("kosodate") == state
        assert counts()[:3] == before[:3]

    def test_reimporting_an_export_here_changes_nothing(self, admin: User, starter_forms: None) -> None:
        overlay = overlay_form(admin)
        draft = form_version_draft_create(template=overlay.template, source=overlay, actor=admin)
        # The new version has a new scan of the official form under the same name.
        form_asset_put(
            version=draft, name="page1.png", content=png("#eeeeee"), content_type="image/png", actor=admin
        )
        form_version_publish(version=draft, actor=admin)
        for code in ("juminido", "inkan"):
            state = snapshot(code)
            content = form_file_export(template=FormTemplate.objects.get(code=code), actor=admin)

            result = form_file_import(content=content, source=f"{code}.json", actor=admin)

            assert result.created == ()
            assert result.unchanged == tuple(sorted(state))
            assert snapshot(code) == state

    def test_reimport_ignores_an_image_no_page_uses(self, admin: User) -> None:
        version = form_template_create(code="inkan", name="印鑑登録申請書", mode="overlay", actor=admin)
        form_asset_put(
            version=version, name="page1.png", content=png(), content_type="image/png", actor=admin
        )
        # The scan is replaced by a JPEG: the page now shows page1.jpg, page1.png stays uploaded but unused.
        jpeg = io.BytesIO()
        Image.new("RGB", (42, 60), "white").save(jpeg, "JPEG")
        form_asset_put(
            version=version, name="page1.jpg", content=jpeg.getvalue(), content_type="image/jpeg", actor=admin
        )
        version = form_version_update(version=version, content=overlay_content("page1.jpg"), actor=admin)
        form_version_publish(version=version, actor=admin)
        content = form_file_export(template=version.template, actor=admin)

        result = form_file_import(content=content, source="inkan.json", actor=admin)

        assert result.unchanged == (1,)

    def test_versions_with_different_images_of_one_name_round_trip(self, admin: User) -> None:
        with transaction.atomic():
            overlay = overlay_form(admin, image=png("white"))
            draft = form_version_draft_create(template=overlay.template, source=overlay, actor=admin)
            form_asset_put(
                version=draft, name="page1.png", content=png("#dddddd"), content_type="image/png", actor=admin
            )
            form_version_publish(version=draft, actor=admin)
            hashes = background_hashes("inkan")
            exported = form_file_export(template=overlay.template, actor=admin)
            transaction.set_rollback(True)
        assert hashes[1] != hashes[2]

        form_file_import(content=exported, source="inkan.json", actor=admin)

        assert background_hashes("inkan") == hashes
        again = form_file_import(content=exported, source="inkan.json", actor=admin)
        assert again.unchanged == (1, 2)

    def test_a_different_version_1_is_refused_and_nothing_changes(
        self, admin: User, starter_forms: None
    ) -> None:
        data = json.loads(form_file_export(template=FormTemplate.objects.get(code="juminido"), actor=admin))
        changed = copy.deepcopy(data["versions"][0])
        changed["fields"][0]["label"] = "届出年月日"
        new_version = {**copy.deepcopy(data["versions"][0]), "number": 3, "status": "draft"}
        data["versions"] = [new_version, changed]  # version 3 comes first: it must not be kept either
        before, state = counts(), snapshot("juminido")

        with pytest.raises(FormFileInvalid) as caught:
            form_file_import(content=encode(data), source="juminido-v1.json", actor=admin)

        message = str(caught.value)
        assert "juminido-v1.json" in message
        assert "version 2 of juminido already exists with different content" in message
        assert counts() == before
        assert snapshot("juminido") == state

    def test_export_and_import_are_audited(self, admin: User) -> None:
        overlay = overlay_form(admin)
        content = form_file_export(template=overlay.template, actor=admin)
        form_file_import(content=content, source="/tmp/somewhere/inkan.json", actor=admin)
        exported, imported = audits("exported")[-1], audits("imported")[-1]
        for event in (exported, imported):
            assert (event.action, event.target_type, event.target_ref, event.actor) == (
                AuditAction.ADMIN, "form", "inkan", admin,
            )  # fmt: skip
        assert exported.detail["versions"] == [1]
        assert imported.detail == {
            "change": "imported",
            "source": "inkan.json",
            "created": [],
            "unchanged": [1],
        }


def _without(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda data: data.pop(key)


def _field_type(data: dict[str, Any]) -> None:
    data["versions"][0]["fields"][1]["type"] = "colour"


def _secret_prefill(data: dict[str, Any]) -> None:
    data["versions"][0]["fields"][0]["prefill"] = "settings.SECRET_KEY"


def _outside_the_page(data: dict[str, Any]) -> None:
    data["versions"][0]["layout"]["placements"][0].update(x=180, width=60)


def _missing_background(data: dict[str, Any]) -> None:
    data["assets"] = {}


def _bad_sha256(data: dict[str, Any]) -> None:
    data["assets"]["page1.png"]["sha256"] = hashlib.sha256(b"something else").hexdigest()


def _not_an_image(data: dict[str, Any]) -> None:
    data["assets"]["page1.png"] = asset_entry(b"%PDF-1.7 not an image")


def _jpeg_named_png(data: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, "JPEG")
    data["assets"]["page1.png"] = asset_entry(buffer.getvalue())


def _same_number(data: dict[str, Any]) -> None:
    data["versions"][1]["number"] = 1


def _flow_published(body: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["versions"][1]["status"] = "published"
        data["versions"][1]["layout"]["body"] = body

    return change


def _wrong_format(data: dict[str, Any]) -> None:
    data["format"] = "madoguchi-form/1"


MALFORMED: dict[str, tuple[Callable[[dict[str, Any]], None], list[str]]] = {
    "wrong format": (_wrong_format, ["format must be 'madoguchi-form/2', not 'madoguchi-form/1'"]),
    "missing code": (_without("code"), ["code: Field required"]),
    "unknown field type": (_field_type, ["versions.0.fields.1.type", "'mj_text'"]),
    "secret prefill": (_secret_prefill, ["fields.shimei.prefill", "unknown name 'settings'", "resident"]),
    "outside the page": (_outside_the_page, ["versions.0.layout.placements.0", "beyond the A4 page"]),
    "missing background": (_missing_background, ["version 1: background 'page1.png' is not in assets"]),
    "bad sha256": (_bad_sha256, ["assets.page1.png", "does not match its sha256"]),
    "not an image": (_not_an_image, ["assets.page1.png", "not a readable image"]),
    "jpeg named png": (_jpeg_named_png, ["assets.page1.png", "the image is JPEG, not image/png"]),
    "same number": (_same_number, ["two versions have the same number"]),
    "template syntax error": (_flow_published("{% if %}</p>"), ["version 2", "layout.body", "line 1"]),
    "unknown template name": (
        _flow_published("{{ config }}"),
        ["version 2", "layout.body", "unknown name 'config'"],
    ),
}


class TestMalformedFiles:
    def refused(self, content: bytes) -> str:
        before = counts()
        with pytest.raises(FormFileInvalid) as caught:
            form_file_import(content=content, source="shared/kosodate.json", actor=None)
        assert counts() == before
        assert not FormTemplate.objects.filter(code="kosodate").exists()
        message = str(caught.value)
        assert message.startswith("shared/kosodate.json"), message
        return message

    def test_the_small_file_itself_is_fine(self) -> None:
        assert form_file_import(content=encode(small_file()), source="kosodate.json", actor=None).created == (
            1,
            2,
        )

    @pytest.mark.parametrize("case", list(MALFORMED))
    def test_refused_with_a_message_and_nothing_changes(self, case: str, starter_forms: None) -> None:
        change, needles = MALFORMED[case]
        data = small_file()
        change(data)
        message = self.refused(encode(data))
        for needle in needles:
            assert needle in message, message

    def test_not_utf8(self) -> None:
        content = encode(small_file()).replace("子ども".encode(), "子ども".encode("cp932"))
        assert "not UTF-8" in self.refused(content)

    def test_not_json_names_line_and_column(self) -> None:
        content = b'{\n "format": "madoguchi-form/2",\n "code": kosodate\n}'
        message = self.refused(content)
        assert "not valid JSON" in message and "line 3, column 10" in message

    def test_not_an_object(self) -> None:
        assert "format must be 'madoguchi-form/2'" in self.refused(b"[1, 2]")


class TestPublishedImmutability:
    def test_save_and_delete_raise(self, starter_forms: None) -> None:
        version = form_version_current(code="juminido", on=dt.date(2026, 4, 1))
        state = snapshot("juminido")
        version.note = "書き換え"
        with pytest.raises(PublishedVersionImmutable):
            version.save()
        with pytest.raises(PublishedVersionImmutable):
            version.delete()
        assert snapshot("juminido") == state

    def test_services_refuse_and_nothing_changes(self, admin: User) -> None:
        version = overlay_form(admin)
        asset = version.assets.get()
        before, state = counts(), snapshot("inkan")

        with pytest.raises(FormEditError, match="公開済み"):
            form_version_update(version=version, content={"note": "変更"}, actor=admin)
        with pytest.raises(FormEditError, match="公開済み"):
            form_asset_put(
                version=version, name="page1.png", content=png("black"), content_type="image/png", actor=admin
            )
        with pytest.raises(FormEditError, match="公開済み"):
            form_asset_put(
                version=version, name="page2.png", content=png("black"), content_type="image/png", actor=admin
            )
        with pytest.raises(FormEditError, match="公開済み"):
            form_version_delete(version=version, actor=admin)
        with pytest.raises(FormEditError):
            form_version_publish(version=version, actor=admin)
        asset.data = png("black")
        with pytest.raises(PublishedVersionImmutable):
            asset.save()
        with pytest.raises(PublishedVersionImmutable):
            asset.delete()

        assert counts() == before
        assert snapshot("inkan") == state


class TestDrafts:
    def test_update_validates_the_whole_content(self, admin: User) -> None:
        version = form_template_create(code="kokuho", name="国民健康保険 異動届", mode="flow", actor=admin)
        before, state = counts(), snapshot("kokuho")
        content = {
            "fields": [
                {"key": "shimei", "label": "氏名", "type": "mj_text", "prefill": "settings.SECRET_KEY"},
                {"key": "color", "label": "色", "type": "colour"},
            ],
            "layout": {"mode": "flow", "body": ""},
        }
        with pytest.raises(FormEditError) as caught:
            form_version_update(version=version, content=content, actor=admin)
        message = str(caught.value)
        assert "fields.1.type" in message
        assert "layout" in message and "body template" in message
        assert counts() == before and snapshot("kokuho") == state

    def test_update_names_a_binding_problem(self, admin: User) -> None:
        version = form_template_create(code="kokuho", name="国民健康保険 異動届", mode="flow", actor=admin)
        content = {
            "fields": [
                {"key": "shimei", "label": "氏名", "type": "mj_text", "prefill": "settings.SECRET_KEY"}
            ]
        }
        with pytest.raises(
            FormEditError, match=r"fields\.shimei\.prefill: 'settings\.SECRET_KEY': unknown name"
        ):
            form_version_update(version=version, content=content, actor=admin)
        assert FormVersion.objects.get(pk=version.pk).fields == []

    def test_update_stores_the_content_and_is_audited(self, admin: User) -> None:
        version = form_template_create(code="inkan", name="印鑑登録申請書", mode="overlay", actor=admin)
        form_asset_put(
            version=version, name="page1.png", content=png(), content_type="image/png", actor=admin
        )
        updated = form_version_update(version=version, content=overlay_content(), actor=admin)
        stored = FormVersion.objects.get(pk=version.pk)
        assert stored.fields == updated.fields and stored.fields[0]["key"] == "shimei"
        assert stored.layout["placements"][0]["value"] == "fields.shimei"
        event = audits("draft changed")[-1]
        assert (event.target_type, event.target_ref, event.actor) == ("form", "inkan", admin)
        assert event.detail["keys"] == ["csv_columns", "fields", "layout", "signing"]

    def test_updates_from_stale_objects_do_not_undo_each_other(self, admin: User) -> None:
        version = form_template_create(code="kokuho", name="国民健康保険 異動届", mode="flow", actor=admin)
        first, second = FormVersion.objects.get(pk=version.pk), FormVersion.objects.get(pk=version.pk)
        form_version_update(version=first, content={"note": "2026年改正"}, actor=admin)
        form_version_update(version=second, content={"signing": "tablet"}, actor=admin)
        stored = FormVersion.objects.get(pk=version.pk)
        assert (stored.note, stored.signing) == ("2026年改正", "tablet")

    def test_field_add(self, admin: User) -> None:
        form_starter_pack_load()
        version = form_template_create(code="kokuho", name="国民健康保険 異動届", mode="flow", actor=admin)
        stale = FormVersion.objects.get(pk=version.pk)
        form_version_field_add(version=version, key="todokede_bi", actor=admin)
        form_version_field_add(version=stale, key="todokedenin_shimei", actor=admin)
        keys = [field["key"] for field in FormVersion.objects.get(pk=version.pk).fields]
        assert keys == ["todokede_bi", "todokedenin_shimei"]

    def test_field_add_copies_the_dictionary_definition(self, admin: User) -> None:
        form_starter_pack_load()
        definition = FieldDefinition.objects.get(key="todokedenin_shimei")
        version = form_template_create(code="kokuho", name="国民健康保険 異動届", mode="flow", actor=admin)

        version = form_version_field_add(version=version, key="todokedenin_shimei", actor=admin)

        copied = FormVersion.objects.get(pk=version.pk).fields
        assert [FieldSpec.model_validate(field) for field in copied] == [definition.field_spec()]
        assert copied[0]["dictionary"] is True and copied[0]["translations"]["en"]["label"]
        assert copied[0]["prefill"] == "resident.shimei"
        # A later change of the dictionary does not reach the form's copy.
        changed = definition.field_spec().model_copy(update={"label": "届出者氏名"})
        field_definition_save(spec=changed, actor=admin)
        assert FormVersion.objects.get(pk=version.pk).fields[0]["label"] == "届出人氏名"
        with pytest.raises(FormEditError, match="既にこの様式にあります"):
            form_version_field_add(version=version, key="todokedenin_shimei", actor=admin)
        with pytest.raises(FormEditError, match="項目辞書に nope はありません"):
            form_version_field_add(version=version, key="nope", actor=admin)

    def test_publish_refuses_a_draft_with_problems(self, admin: User) -> None:
        flow = form_template_create(code="kokuho", name="国民健康保険 異動届", mode="flow", actor=admin)
        flow = form_version_update(
            version=flow, content={"layout": {"mode": "flow", "body": "{{ config }}"}}, actor=admin
        )
        overlay = form_template_create(code="inkan", name="印鑑登録申請書", mode="overlay", actor=admin)
        overlay = form_version_update(version=overlay, content=overlay_content("scan.png"), actor=admin)
        assert version_problems(flow) == [
            "layout.body: line 1: unknown name 'config' (a form can use: answers, card, city, fields, household, "
            "procedures, resident, session, today)"
        ]
        before = counts()

        with pytest.raises(FormEditError, match="unknown name 'config'"):
            form_version_publish(version=flow, actor=admin)
        with pytest.raises(FormEditError, match=r"background 'scan\.png' is not uploaded"):
            form_version_publish(version=overlay, actor=admin)

        assert counts() == before
        assert set(FormVersion.objects.values_list("status", flat=True)) == {VersionStatus.DRAFT}

    def test_publish_checks_what_is_stored(self, admin: User) -> None:
        version = form_template_create(code="kokuho", name="国民健康保険 異動届", mode="flow", actor=admin)
        form_version_update(
            version=version, content={"layout": {"mode": "flow", "body": "{{ config }}"}}, actor=admin
        )
        # ``version`` still holds the good body it was created with; the stored one is what would be published.
        with pytest.raises(FormEditError, match="unknown name 'config'"):
            form_version_publish(version=version, actor=admin)
        assert FormVersion.objects.get(pk=version.pk).status == VersionStatus.DRAFT

    def test_publish_a_good_draft(self, admin: User) -> None:
        version = form_template_create(code="inkan", name="印鑑登録申請書", mode="overlay", actor=admin)
        form_asset_put(
            version=version, name="page1.png", content=png(), content_type="image/png", actor=admin
        )
        version = form_version_update(version=version, content=overlay_content(), actor=admin)
        assert version_problems(version) == []

        published = form_version_publish(version=version, actor=admin)

        stored = FormVersion.objects.get(pk=version.pk)
        assert stored.status == VersionStatus.PUBLISHED and stored.is_published
        assert stored.published_at is not None and stored.published_by == admin
        event = audits("published")[-1]
        assert (event.action, event.target_type, event.target_ref, event.actor) == (
            AuditAction.ADMIN, "form", "inkan", admin,
        )  # fmt: skip
        assert event.detail["version"] == 1
        assert form_version_current(code="inkan").pk == published.pk

    def test_draft_create_copies_content_and_images_into_the_next_number(self, admin: User) -> None:
        image = png("#abcdef")
        published = overlay_form(admin, image=image)

        draft = form_version_draft_create(template=published.template, source=published, actor=admin)

        assert draft.number == 2 and draft.status == VersionStatus.DRAFT
        for key in ("signing", "fields", "layout", "csv_columns"):
            assert getattr(draft, key) == getattr(published, key), key
        copied = draft.assets.get(name="page1.png")
        assert bytes(copied.data) == image and copied.sha256 == hashlib.sha256(image).hexdigest()
        # The copy is a draft of its own: changing it leaves the published version as it was.
        state = snapshot("inkan")[1]
        form_asset_put(
            version=draft, name="page1.png", content=png("black"), content_type="image/png", actor=admin
        )
        form_version_update(version=draft, content={"note": "2027年改正"}, actor=admin)
        assert snapshot("inkan")[1] == state
        assert audits("draft created")[-1].detail == {
            "change": "draft created",
            "version": 2,
            "copied_from": 1,
        }

    def test_draft_create_without_source_is_empty_and_numbered_after_the_newest(self, admin: User) -> None:
        first = form_template_create(code="kokuho", name="国民健康保険 異動届", mode="flow", actor=admin)
        second = form_version_draft_create(template=first.template, source=None, actor=admin)
        third = form_version_draft_create(template=first.template, source=None, actor=admin)
        assert (second.number, third.number) == (2, 3)
        assert third.fields == [] and third.layout["mode"] == "flow"

    def test_draft_delete(self, admin: User) -> None:
        first = form_template_create(code="kokuho", name="国民健康保険 異動届", mode="flow", actor=admin)
        draft = form_version_draft_create(template=first.template, source=first, actor=admin)
        form_version_delete(version=draft, actor=admin)
        assert list(FormVersion.objects.values_list("number", flat=True)) == [1]
        assert audits("draft deleted")[-1].detail["version"] == 2


class TestCurrentVersion:
    def publish(self, version: FormVersion, actor: User, **dates: str) -> FormVersion:
        version = form_version_update(version=version, content=dates, actor=actor)
        return form_version_publish(version=version, actor=actor)

    def test_effective_from_and_to(self, admin: User) -> None:
        first = form_template_create(code="kokuho", name="国民健康保険 異動届", mode="flow", actor=admin)
        self.publish(first, admin, effective_from="2025-04-01", effective_to="2026-03-31")
        second = form_version_draft_create(template=first.template, source=first, actor=admin)
        self.publish(second, admin, effective_from="2026-04-01", effective_to="2027-03-31")
        form_version_draft_create(
            template=first.template, source=second, actor=admin
        )  # a draft is never current

        def current(day: dt.date) -> int:
            return form_version_current(code="kokuho", on=day).number

        assert current(dt.date(2025, 4, 1)) == 1
        assert current(dt.date(2026, 3, 31)) == 1
        assert current(dt.date(2026, 4, 1)) == 2
        assert current(dt.date(2027, 3, 31)) == 2
        for day in (dt.date(2025, 3, 31), dt.date(2027, 4, 1)):
            with pytest.raises(FormVersion.DoesNotExist):
                form_version_current(code="kokuho", on=day)

    def test_open_ended_newest_wins(self, admin: User) -> None:
        first = form_template_create(code="kokuho", name="国民健康保険 異動届", mode="flow", actor=admin)
        self.publish(first, admin)
        second = form_version_draft_create(template=first.template, source=first, actor=admin)
        self.publish(second, admin, effective_from="2030-01-01")
        assert form_version_current(code="kokuho", on=dt.date(2029, 12, 31)).number == 1
        assert form_version_current(code="kokuho", on=dt.date(2030, 1, 1)).number == 2


class TestFilling:
    def test_prefill_projects_the_household_onto_the_list_columns(self, starter_forms: None) -> None:
        spec = form_version_current(code="juminido", on=dt.date(2026, 4, 1)).spec()
        context = form_sample_context(today=dt.date(2026, 4, 1))

        values = form_prefill(spec=spec, context=context)

        columns = ["shimei", "kana", "birth_date", "sex", "zokugara"]
        assert values["idousha"] == [
            {key: (person[key].isoformat() if key == "birth_date" else person[key]) for key in columns}
            for person in context["household"]
        ]
        assert values["idousha"][0]["shimei"] == f"{IVS_NAME}　花子"
        assert values["idousha"][2]["birth_date"] == "2016-04-02"
        assert "atena_no" not in values["idousha"][0]
        assert values["todokede_bi"] == "2026-04-01"
        assert values["todokedenin_shimei"] == f"{IVS_NAME}　花子"
        assert values["ido_jiyu"] == "転入"
        assert values["renraku_tel"] == "" and values["todokedenin_shomei"] == ""
        assert set(values) == {field.key for field in spec.fields}

    def test_values_override_the_prefill(self, starter_forms: None) -> None:
        spec = form_version_current(code="juminido", on=dt.date(2026, 4, 1)).spec()
        context = form_sample_context(today=dt.date(2026, 4, 1))
        entered = {"todokedenin_shimei": "辻\U000e0102　一", "idousha": [], "renraku_tel": "087-839-2011"}

        filled = form_fill(spec=spec, context=context, values=entered)

        assert filled["fields"]["todokedenin_shimei"] == "辻\U000e0102　一"
        assert filled["fields"]["idousha"] == []
        assert filled["fields"]["renraku_tel"] == "087-839-2011"
        assert filled["fields"]["todokede_bi"] == "2026-04-01"  # not entered: prefilled
        assert filled["resident"] is context["resident"] and filled["household"] is context["household"]

    def test_list_prefill_stops_at_max_items(self, admin: User) -> None:
        version = form_template_create(code="kokuho", name="国民健康保険 異動届", mode="flow", actor=admin)
        content = {
            "fields": [{
                "key": "members", "label": "加入者", "type": "person_list", "prefill": "household", "max_items": 2,
                "columns": [{"key": "shimei", "label": "氏名", "type": "mj_text"},
                            {"key": "birth_date", "label": "生年月日", "type": "date"}],
            }],
        }  # fmt: skip
        spec = form_version_update(version=version, content=content, actor=admin).spec()
        rows = form_prefill(spec=spec, context=form_sample_context())["members"]
        assert rows == [
            {"shimei": f"{IVS_NAME}　花子", "birth_date": "1980-01-01"},
            {"shimei": f"{IVS_NAME}　太郎", "birth_date": "1978-06-15"},
        ]


class TestAudit:
    def test_every_change_is_audited(self, admin: User) -> None:
        def changes() -> list[tuple[str, str, str, str]]:
            return [
                (event.action, event.target_type, event.target_ref, event.detail["change"])
                for event in AuditEvent.objects.order_by("id")
            ]

        version = form_template_create(code="inkan", name="印鑑登録申請書", mode="overlay", actor=admin)
        form_asset_put(
            version=version, name="page1.png", content=png(), content_type="image/png", actor=admin
        )
        version = form_version_update(version=version, content=overlay_content(), actor=admin)
        form_version_publish(version=version, actor=admin)
        draft = form_version_draft_create(template=version.template, source=version, actor=admin)
        form_version_delete(version=draft, actor=admin)
        field_definition_save(
            spec=FieldDefinition(
                spec={"key": "inkan_no", "label": "印鑑登録番号", "type": "mj_text"}
            ).field_spec(),
            actor=admin,
        )

        assert changes() == [
            ("admin", "form", "inkan", "created"),
            ("admin", "form", "inkan", "background stored"),
            ("admin", "form", "inkan", "draft changed"),
            ("admin", "form", "inkan", "published"),
            ("admin", "form", "inkan", "draft created"),
            ("admin", "form", "inkan", "draft deleted"),
            ("admin", "field", "inkan_no", "created"),
        ]
        assert set(AuditEvent.objects.values_list("actor", flat=True)) == {admin.pk}

    def test_a_refused_edit_is_not_audited(self, admin: User) -> None:
        version = form_template_create(code="kokuho", name="国民健康保険 異動届", mode="flow", actor=admin)
        before = AuditEvent.objects.count()
        with pytest.raises(FormEditError):
            form_version_update(version=version, content={"signing": "fax"}, actor=admin)
        with pytest.raises(FormEditError):
            form_asset_put(
                version=version, name="x.png", content=b"not an image", content_type="image/png", actor=admin
            )
        with pytest.raises(FormEditError):
            form_template_create(code="kokuho", name="重複", mode="flow", actor=admin)
        assert AuditEvent.objects.count() == before
