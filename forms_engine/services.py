"""Writes of the forms engine: the field dictionary, drafts, publishing, background images, the form file
(export / import) and the starter pack. Every change by a person is audit-logged."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone
from pydantic import ValidationError

from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record

from .bindings import BindingInvalid, binding_check, binding_parse, binding_value
from .models import (
    FieldDefinition,
    FormAsset,
    FormTemplate,
    FormVersion,
    PacketRender,
    RenderStatus,
    VersionStatus,
)
from .rendering import FormRenderError, layout_problems, render_form_html, render_packet
from .schema import (
    ASSET_NAME_PATTERN,
    FORM_FILE_FORMAT,
    RESERVED_CODES,
    FieldSpec,
    FormFile,
    VersionSpec,
    background_problem,
    schema_errors,
    version_spec_load,
)

logger = logging.getLogger(__name__)

STARTER_DIR = Path(__file__).resolve().parent / "starter"
DICTIONARY_PATH = Path(__file__).resolve().parent / "dictionary.json"


class FormFileInvalid(ValueError):
    """A form file that cannot be imported; the message names the file and every problem. Nothing changed."""


class FormEditError(ValueError):
    """An edit that is not allowed (a published version, invalid content); the message says why."""


def _audit(actor: Any, template: FormTemplate, change: str, **detail: Any) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.ADMIN,
        target_type="form",
        target_ref=template.code,
        detail={"change": change, **detail},
    )


# --- the field dictionary ---------------------------------------------------------------------------------


def field_definition_save(*, spec: FieldSpec, actor: Any) -> FieldDefinition:
    """Create or change a dictionary entry. Versions already holding the field keep their copy. Its prefill
    must read the documented context (a dictionary field cannot refer to a form's own fields)."""
    if spec.prefill:
        try:
            binding_check(spec.prefill, fields={})
        except BindingInvalid as exc:
            raise FormEditError(f"prefill: {exc}") from None
    data = spec.model_copy(update={"dictionary": True}).model_dump(mode="json", exclude_defaults=True)
    definition, created = FieldDefinition.objects.update_or_create(
        key=spec.key, defaults={"label": spec.label, "type": spec.type, "spec": data}
    )
    if actor is not None:
        audit_record(
            actor=actor,
            action=AuditAction.ADMIN,
            target_type="field",
            target_ref=spec.key,
            detail={"change": "created" if created else "changed"},
        )
    return definition


def field_dictionary_load(*, path: Path = DICTIONARY_PATH) -> int:
    """Load the shipped dictionary (a JSON list of field specs); entries a city changed are left as they are."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        specs = [FieldSpec.model_validate(entry) for entry in entries]
    except (OSError, json.JSONDecodeError) as exc:
        raise FormFileInvalid(f"{path}: {exc}") from exc
    except ValidationError as exc:
        raise FormFileInvalid(f"{path}: " + "; ".join(schema_errors(exc))) from exc
    existing = set(FieldDefinition.objects.values_list("key", flat=True))
    new = [spec for spec in specs if spec.key not in existing]
    for spec in new:
        field_definition_save(spec=spec, actor=None)
    return len(new)


# --- drafts and publishing ---------------------------------------------------------------------------------


def _empty_layout(mode: str) -> dict[str, Any]:
    if mode == "overlay":
        return {"mode": "overlay", "pages": [{"background": ""}]}
    return {"mode": "flow", "body": "<h1>{{ fields.title|default('') }}</h1>\n", "css": ""}


def form_template_create(
    *, code: str, name: str, description: str = "", mode: str, actor: Any
) -> FormVersion:
    """A new form with an empty draft version 1 in the given layout mode (``flow`` or ``overlay``)."""
    if code in RESERVED_CODES:
        raise FormEditError(f"様式コード {code} は使えません（画面のURLと重なります）")
    if FormTemplate.objects.filter(code=code).exists():
        raise FormEditError(f"様式コード {code} は既に使われています")
    with transaction.atomic():
        template = FormTemplate.objects.create(code=code, name=name, description=description)
        version = FormVersion.objects.create(template=template, number=1, layout=_empty_layout(mode))
        _audit(actor, template, "created", version=1, mode=mode)
    return version


def form_version_draft_create(
    *, template: FormTemplate, source: FormVersion | None, actor: Any
) -> FormVersion:
    """A new draft numbered after the newest version, copying ``source`` (content and images) when given."""
    with transaction.atomic():
        FormTemplate.objects.select_for_update().get(pk=template.pk)
        number = (template.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        content: dict[str, Any] = (
            source.content() if source is not None else {"layout": _empty_layout("flow")}
        )
        version = FormVersion.objects.create(
            template=template,
            number=number,
            signing=content.get("signing", "paper"),
            fields=content.get("fields", []),
            layout=content["layout"],
            csv_columns=content.get("csv_columns", []),
        )
        for asset in source.assets.all() if source is not None else []:
            FormAsset.objects.create(
                version=version,
                name=asset.name,
                content_type=asset.content_type,
                sha256=asset.sha256,
                data=asset.data,
            )
        _audit(
            actor, template, "draft created", version=number, copied_from=source.number if source else None
        )
    return version


def _editable(version: FormVersion) -> FormVersion:
    locked = FormVersion.objects.select_for_update().select_related("template").get(pk=version.pk)
    if locked.is_published:
        raise FormEditError(f"{locked} は公開済みのため変更できません。新しい版を作ってください")
    return locked


def form_version_update(*, version: FormVersion, content: Mapping[str, Any], actor: Any) -> FormVersion:
    """Replace a draft's content (fields, layout, CSV columns, signing, dates, note) after validating all of it."""
    with transaction.atomic():
        locked = _editable(version)
        # Merged into the stored content, not ``version``'s: a stale copy would undo another edit.
        merged = {**locked.content(), **content, "number": locked.number, "status": VersionStatus.DRAFT}
        try:
            spec = version_spec_load(merged)
        except ValueError as exc:
            raise FormEditError(str(exc)) from None
        _apply(locked, spec)
        locked.save()
        _audit(actor, locked.template, "draft changed", version=locked.number, keys=sorted(content))
    return locked


def _apply(version: FormVersion, spec: VersionSpec) -> None:
    data = spec.model_dump(mode="json")
    version.effective_from = spec.effective_from
    version.effective_to = spec.effective_to
    version.signing = spec.signing
    version.fields = data["fields"]
    version.layout = data["layout"]
    version.csv_columns = data["csv_columns"]
    version.note = spec.note


def form_version_field_add(*, version: FormVersion, key: str, actor: Any) -> FormVersion:
    """Add the dictionary field ``key`` to a draft (a copy of its definition)."""
    definition = FieldDefinition.objects.filter(key=key).first()
    if definition is None:
        raise FormEditError(f"項目辞書に {key} はありません")
    with transaction.atomic():
        locked = _editable(version)
        if any(field["key"] == key for field in locked.fields):
            raise FormEditError(f"{key} は既にこの様式にあります")
        fields = [*locked.fields, definition.spec]
        return form_version_update(version=locked, content={"fields": fields}, actor=actor)


def form_asset_put(
    *, version: FormVersion, name: str, content: bytes, content_type: str, actor: Any
) -> FormAsset:
    """Store (or replace) a background image of a draft; refuses anything but a readable PNG or JPEG, and a name
    the form file could not carry."""
    if not re.fullmatch(ASSET_NAME_PATTERN, name):
        raise FormEditError(f"{name!r}: an image name is letters, digits, '.', '_' and '-' (e.g. page1.png)")
    try:
        background_problem(content, content_type)
    except ValueError as exc:
        raise FormEditError(f"{name}: {exc}") from None
    with transaction.atomic():
        locked = _editable(version)
        asset, _ = FormAsset.objects.update_or_create(
            version=locked,
            name=name,
            defaults={
                "content_type": content_type,
                "sha256": hashlib.sha256(content).hexdigest(),
                "data": content,
            },
        )
        _audit(
            actor, locked.template, "background stored", version=locked.number, name=name, bytes=len(content)
        )
    return asset


def version_problems(version: FormVersion) -> list[str]:
    """Every reason ``version`` cannot be published: invalid content, a template that does not compile or uses
    names outside the context, a missing background, a form that fails to render with sample data."""
    from .selectors import form_sample_context, render_source

    try:
        spec = version.spec()
    except ValidationError as exc:
        return schema_errors(exc)
    problems = layout_problems(spec.layout)
    stored = set(version.assets.values_list("name", flat=True))
    problems += [
        f"layout.pages: background {name!r} is not uploaded"
        for name in spec.backgrounds()
        if name not in stored
    ]
    if not problems:
        try:
            source = render_source(version=version)
            render_form_html(source, form_fill(spec=spec, context=form_sample_context()))
        except FormRenderError as exc:
            problems.append(str(exc))
    return problems


def form_version_publish(*, version: FormVersion, actor: Any) -> FormVersion:
    """Publish a draft after checking it (``version_problems``); from then on it never changes."""
    with transaction.atomic():
        locked = _editable(version)
        # The stored draft is checked, not ``version``: that is what becomes published.
        problems = version_problems(locked)
        if problems:
            raise FormEditError("\n".join(problems))
        # Images no page uses any more (replaced, or their page removed) are not published with the version.
        locked.assets.exclude(name__in=locked.spec().backgrounds()).delete()
        locked.status = VersionStatus.PUBLISHED
        locked.published_at = timezone.now()
        locked.published_by = actor if getattr(actor, "is_authenticated", False) else None
        locked.save()
        _audit(actor, locked.template, "published", version=locked.number)
    return locked


def form_version_delete(*, version: FormVersion, actor: Any) -> None:
    """Delete a draft (a published version cannot be deleted)."""
    with transaction.atomic():
        locked = _editable(version)
        template, number = locked.template, locked.number
        locked.delete()
        _audit(actor, template, "draft deleted", version=number)


# --- filling -----------------------------------------------------------------------------------------------


def _prefill_value(spec: FieldSpec, context: Mapping[str, Any]) -> Any:
    value = binding_value(binding_parse(spec.prefill), context)
    if spec.type == "person_list":
        rows = value if isinstance(value, list | tuple) else []
        return [
            {
                column.key: _plain(row.get(column.key) if isinstance(row, Mapping) else None)
                for column in spec.columns
            }
            for row in rows[: spec.max_items]
        ]
    if spec.type == "checkbox":
        return bool(value)
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else value


def form_prefill(*, spec: VersionSpec, context: Mapping[str, Any]) -> dict[str, Any]:
    """Each field's value from its prefill binding (empty when it has none): what the clerk and the resident
    start from."""
    return {
        field.key: (
            _prefill_value(field, context) if field.prefill else ([] if field.type == "person_list" else "")
        )
        for field in spec.fields
    }


def form_fill(
    *, spec: VersionSpec, context: Mapping[str, Any], values: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The render context of a form: ``context`` plus ``fields`` — the prefilled values, overridden by
    ``values`` (what the clerk or resident entered, already validated)."""
    return {**context, "fields": {**form_prefill(spec=spec, context=context), **(values or {})}}


# --- the form file -----------------------------------------------------------------------------------------


def _asset_entry(asset: FormAsset) -> dict[str, str]:
    return {
        "content_type": asset.content_type,
        "sha256": asset.sha256,
        "data": base64.b64encode(bytes(asset.data)).decode("ascii"),
    }


def form_file_export(*, template: FormTemplate, numbers: Iterable[int] | None = None, actor: Any) -> bytes:
    """The form as one file (``madoguchi-form/2`` JSON): the chosen versions (default all) with their images."""
    versions = template.versions.order_by("number")
    if numbers is not None:
        versions = versions.filter(number__in=list(numbers))
    assets: dict[str, dict[str, str]] = {}
    entries = []
    for version in versions:
        entries.append(version.content())
        for asset in version.assets.all():
            # Images of different versions share a name only when they are the same bytes.
            taken = assets.get(asset.name, {}).get("sha256", asset.sha256) != asset.sha256
            name = f"v{version.number}-{asset.name}" if taken else asset.name
            if name != asset.name:
                entries[-1] = _renamed_background(entries[-1], asset.name, name)
            assets[name] = _asset_entry(asset)
    if not entries:
        raise FormEditError(f"{template.code}: no version to export")
    data = {
        "format": FORM_FILE_FORMAT,
        "code": template.code,
        "name": template.name,
        "description": template.description,
        "versions": entries,
        "assets": assets,
    }
    _audit(actor, template, "exported", versions=[entry["number"] for entry in entries])
    return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")


def _renamed_background(content: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    layout = dict(content["layout"])
    layout["pages"] = [
        {**page, "background": new if page.get("background") == old else page.get("background", "")}
        for page in layout.get("pages", [])
    ]
    return {**content, "layout": layout}


@dataclass(frozen=True)
class FormImportResult:
    template: FormTemplate
    created: tuple[int, ...]
    unchanged: tuple[int, ...]


def _same(version: FormVersion, spec: VersionSpec, assets: Mapping[str, str]) -> bool:
    """Whether ``version`` holds ``spec`` (``assets``: the file's image names → sha256). Backgrounds are compared
    by their bytes, not their names: an export renames an image that another version holds under the same name
    with other bytes, and an uploaded image no page uses is not part of the version."""
    try:
        stored_spec = version.spec()
    except ValidationError:
        return False  # a version stored before today's rules (an upgrade) is not the file's version
    stored = _comparable(stored_spec, dict(version.assets.values_list("name", "sha256")))
    return stored == _comparable(spec, assets)


def _comparable(spec: VersionSpec, hashes: Mapping[str, str]) -> dict[str, Any]:
    data = spec.model_dump(mode="json", exclude={"status"})
    for page in data["layout"]["pages"]:
        if page["background"]:
            page["background"] = hashes.get(page["background"])
    return data


def form_file_parse(content: bytes, *, source: str) -> FormFile:
    """The form file ``content`` validated whole; FormFileInvalid names the file and every problem."""
    try:
        data = json.loads(content.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise FormFileInvalid(f"{source}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise FormFileInvalid(
            f"{source}: not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORM_FILE_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise FormFileInvalid(f"{source}: format must be {FORM_FILE_FORMAT!r}, not {found!r}")
    try:
        return FormFile.model_validate(data)
    except ValidationError as exc:
        raise FormFileInvalid(f"{source}:\n" + "\n".join(schema_errors(exc))) from None


def form_file_import(*, content: bytes, source: str, actor: Any) -> FormImportResult:
    """Import a form file: every version it holds is created, or left alone when the same version is already
    here. A version number that exists with different content is refused — a published version never changes —
    and then nothing is imported. Published versions in the file are checked like a publish."""
    form = form_file_parse(content, source=source)
    asset_hashes = {name: asset.sha256 for name, asset in form.assets.items()}
    with transaction.atomic():
        template, _ = FormTemplate.objects.get_or_create(
            code=form.code, defaults={"name": form.name, "description": form.description}
        )
        existing = {version.number: version for version in template.versions.all()}
        created, unchanged = [], []
        for spec in form.versions:
            current = existing.get(spec.number)
            if current is not None:
                if not _same(current, spec, asset_hashes):
                    raise FormFileInvalid(
                        f"{source}: version {spec.number} of {form.code} already exists with different content; "
                        "a version never changes once loaded — give the new one another number"
                    )
                if spec.status == VersionStatus.PUBLISHED and not current.is_published:
                    raise FormFileInvalid(
                        f"{source}: version {spec.number} of {form.code} is a draft here and published in the "
                        "file; publish it in 様式管理 after checking it, or give the file's version another number"
                    )
                unchanged.append(spec.number)
                continue
            version = FormVersion(template=template, number=spec.number, status=VersionStatus.DRAFT)
            _apply(version, spec)
            version.save()
            for name in spec.backgrounds():
                asset = form.assets[name]
                FormAsset.objects.create(
                    version=version,
                    name=name,
                    content_type=asset.content_type,
                    sha256=asset.sha256,
                    data=asset.content(),
                )
            if spec.status == VersionStatus.PUBLISHED:
                problems = version_problems(version)
                if problems:
                    raise FormFileInvalid(f"{source}: version {spec.number}:\n" + "\n".join(problems))
                version.status = VersionStatus.PUBLISHED
                version.published_at = timezone.now()
                version.save()
            created.append(spec.number)
        _audit(actor, template, "imported", source=Path(source).name, created=created, unchanged=unchanged)
    return FormImportResult(template=template, created=tuple(created), unchanged=tuple(unchanged))


def form_starter_pack_load() -> list[FormImportResult]:
    """Load the field dictionary and every form of the starter pack (forms_engine/starter/*.json) through the
    same import path a city uses for shared forms."""
    field_dictionary_load()
    return [
        form_file_import(content=path.read_bytes(), source=str(path), actor=None)
        for path in sorted(STARTER_DIR.glob("*.json"))
    ]


# --- the render queue --------------------------------------------------------------------------------------

MAX_RENDER_ATTEMPTS = 5
REDISPATCH_AFTER = dt.timedelta(seconds=60)


def context_jsonable(value: Any) -> Any:
    """``value`` as JSON data: dates become ISO text, which every filter reads as a date."""
    if isinstance(value, Mapping):
        return {str(key): context_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [context_jsonable(item) for item in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def packet_render_request(
    *, forms: Sequence[tuple[FormVersion, Mapping[str, Any]]], reception_no: str, actor: Any
) -> PacketRender:
    """Queue a packet (each form with its filled context) for the ``render`` queue; the row is durable, so a
    broker outage only delays it (``packet_renders_redispatch``)."""
    render = PacketRender.objects.create(
        reception_no=reception_no,
        forms=[{"version": version.pk, "context": context_jsonable(context)} for version, context in forms],
        requested_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    transaction.on_commit(lambda: _dispatch(render))
    return render


def _dispatch(render: PacketRender) -> None:
    from .tasks import packet_render

    try:
        packet_render.delay(render.pk)
    except Exception:  # the broker may be down: the beat job sends it again from the row
        logger.warning("packet render %s: broker unreachable, will redispatch", render.pk)
        return
    PacketRender.objects.filter(pk=render.pk).update(attempts=F("attempts") + 1)


def packet_render_run(*, render_id: int) -> str:
    """Render a queued packet; running it again for a finished one changes nothing. A form that cannot render
    fails the packet with its message; the contexts are dropped once the packet is finished."""
    from .selectors import render_source

    with transaction.atomic():
        render = PacketRender.objects.select_for_update().filter(pk=render_id).first()
        if render is None or render.status != RenderStatus.QUEUED:
            return render.status if render is not None else "missing"
        versions = FormVersion.objects.select_related("template").in_bulk(
            [item["version"] for item in render.forms]
        )
        try:
            packet = render_packet(
                [
                    (render_source(version=versions[item["version"]]), item["context"])
                    for item in render.forms
                ],
                reception_no=render.reception_no,
            )
        except (FormRenderError, KeyError) as exc:
            render.status, render.message = RenderStatus.FAILED, str(exc)[:500]
        else:
            render.status, render.pdf, render.pages = RenderStatus.DONE, packet.pdf, packet.pages
        render.forms = [{"version": item["version"]} for item in render.forms]
        render.finished_at = timezone.now()
        render.save()
    return render.status


def packet_renders_redispatch() -> int:
    """Send again every packet still queued after a minute; fail one sent MAX_RENDER_ATTEMPTS times. Finished
    packets (their PDFs hold personal data) are deleted after MADOGUCHI_PRINT_RETENTION_HOURS, like print jobs."""
    from django.conf import settings

    retention = dt.timedelta(hours=settings.MADOGUCHI_PRINT_RETENTION_HOURS)
    PacketRender.objects.exclude(status=RenderStatus.QUEUED).filter(
        finished_at__lt=timezone.now() - retention
    ).delete()
    stale = list(
        PacketRender.objects.filter(
            status=RenderStatus.QUEUED, created_at__lt=timezone.now() - REDISPATCH_AFTER
        )
    )
    for render in stale:
        if render.attempts >= MAX_RENDER_ATTEMPTS:
            PacketRender.objects.filter(pk=render.pk, status=RenderStatus.QUEUED).update(
                status=RenderStatus.FAILED,
                message="render worker did not finish the packet",
                forms=[],
                finished_at=timezone.now(),
            )
        else:
            _dispatch(render)
    return len(stale)
