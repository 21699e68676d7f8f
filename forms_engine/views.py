"""The form-admin UI (様式管理): forms and their versions, fields, layouts (with the overlay designer), CSV
columns, checks, previews, publishing, the form file and the field dictionary.

Views only read the request, call services and selectors, and render; every change is audited by the services.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from pydantic import ValidationError

from madoguchi.accounts.roles import Role, role_required
from madoguchi.responses import inline_pdf

from . import registry, selectors, services
from .bindings import CARD_KEYS, CONTEXT_SCHEMA, FILTERS, PERSON_KEYS, PROCEDURE_KEYS, SESSION_KEYS
from .forms import (
    BackgroundForm,
    ConfirmForm,
    DraftCreateForm,
    FieldAddForm,
    FieldDefinitionForm,
    FieldEditForm,
    FieldMoveForm,
    FlowLayoutForm,
    FormImportForm,
    FormTemplateCreateForm,
    LocalFieldForm,
    PreviewForm,
    VersionBasicForm,
    background_name,
    csv_rows_from_post,
    pages_after_add,
    pages_after_background,
    pages_after_remove,
)
from .models import FormAsset, FormTemplate, FormVersion
from .rendering import FormRenderError, render_packet_pdf
from .schema import A4_MM, FIELD_TYPES, FieldSpec, schema_errors
from .services import FormEditError, FormFileInvalid

View = Callable[..., HttpResponse]
DESIGNER_PX_PER_MM = 3


form_admin_required = role_required(Role.FORM_ADMIN)


def _version(code: str, number: int) -> FormVersion:
    return get_object_or_404(
        FormVersion.objects.select_related("template"), template__code=code, number=number
    )


def _problem_lines(exc: Exception) -> list[str]:
    return [line for line in str(exc).splitlines() if line.strip()]


# --- forms and the form file --------------------------------------------------------------------------------


def _index(request: HttpRequest, *, status: int = 200, **overrides: Any) -> HttpResponse:
    context = {
        "templates": selectors.form_templates_all(),
        "create_form": FormTemplateCreateForm(),
        "import_form": FormImportForm(),
        "import_errors": [],
        **overrides,
    }
    return render(request, "forms_engine/index.html", context, status=status)


@require_GET
@form_admin_required
def index(request: HttpRequest) -> HttpResponse:
    return _index(request)


@require_POST
@form_admin_required
def template_create(request: HttpRequest) -> HttpResponse:
    form = FormTemplateCreateForm(request.POST)
    if not form.is_valid():
        return _index(request, create_form=form, status=400)
    try:
        version = services.form_template_create(**form.cleaned_data, actor=request.user)
    except FormEditError as exc:
        form.add_error("code", str(exc))
        return _index(request, create_form=form, status=400)
    messages.success(request, _("様式「%(name)s」を作りました。") % {"name": version.template.name})
    return redirect("forms_engine:version", code=version.template.code, number=version.number)


@require_POST
@form_admin_required
def template_import(request: HttpRequest) -> HttpResponse:
    form = FormImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _index(request, import_form=form, status=400)
    upload = form.cleaned_data["file"]
    try:
        result = services.form_file_import(content=upload.read(), source=upload.name, actor=request.user)
    except FormFileInvalid as exc:
        return _index(request, import_form=form, import_errors=_problem_lines(exc), status=400)
    if result.created:
        messages.success(
            request,
            _("%(file)s を取り込みました（新しい版: %(numbers)s）")
            % {"file": upload.name, "numbers": _numbers(result.created)},
        )
    if result.unchanged:
        messages.info(
            request,
            _("同じ内容の版は既にあります: %(numbers)s") % {"numbers": _numbers(result.unchanged)},
        )
    return redirect("forms_engine:template", code=result.template.code)


def _numbers(numbers: Iterable[int]) -> str:
    return "、".join(_("第%(n)s版") % {"n": n} for n in numbers)


@require_GET
@form_admin_required
def template_detail(request: HttpRequest, code: str) -> HttpResponse:
    template = get_object_or_404(FormTemplate, code=code)
    versions = list(template.versions.order_by("-number"))
    return render(
        request,
        "forms_engine/template_detail.html",
        {
            "form_template": template,
            "versions": versions,
            "draft_form": DraftCreateForm(numbers=[v.number for v in versions]),
        },
    )


@require_POST
@form_admin_required
def draft_create(request: HttpRequest, code: str) -> HttpResponse:
    template = get_object_or_404(FormTemplate, code=code)
    form = DraftCreateForm(request.POST, numbers=list(template.versions.values_list("number", flat=True)))
    if not form.is_valid():
        messages.error(request, _("元にする版を選んでください。"))
        return redirect("forms_engine:template", code=code)
    number = form.cleaned_data["source"]
    source = template.versions.get(number=number) if number is not None else None
    version = services.form_version_draft_create(template=template, source=source, actor=request.user)
    messages.success(request, _("第%(n)s版（下書き）を作りました。") % {"n": version.number})
    return redirect("forms_engine:version", code=code, number=version.number)


@require_GET
@form_admin_required
def template_export(request: HttpRequest, code: str, number: int | None = None) -> HttpResponse:
    template = get_object_or_404(FormTemplate, code=code)
    try:
        content = services.form_file_export(
            template=template, numbers=[number] if number is not None else None, actor=request.user
        )
    except FormEditError as exc:
        raise Http404(str(exc)) from None
    name = f"{code}.madoguchi-form.json" if number is None else f"{code}-v{number}.madoguchi-form.json"
    response = HttpResponse(content, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- the version editor -------------------------------------------------------------------------------------

TABS = (
    ("basic", "forms_engine:version"),
    ("fields", "forms_engine:version_fields"),
    ("layout", "forms_engine:version_layout"),
    ("csv", "forms_engine:version_csv"),
    ("check", "forms_engine:version_check"),
)


def _tab_labels() -> dict[str, str]:
    return {
        "basic": _("基本"),
        "fields": _("項目"),
        "layout": _("レイアウト"),
        "csv": _("CSV列"),
        "check": _("検証・プレビュー・公開"),
    }


def _binding_help(fields: list[dict[str, Any]]) -> dict[str, Any]:
    """The documented binding roots (with their keys) and filters, for the help next to binding inputs;
    ``fields`` are the version's fields (none for the dictionary)."""
    persons = ", ".join(sorted(PERSON_KEYS))
    field_keys = ", ".join(field["key"] for field in fields) or _("（様式の項目キー）")
    roots = {
        "resident": (_("本人"), f"resident.{{{persons}}}"),
        "household": (_("世帯の人の一覧（番号で1人を選ぶ）"), f"household.0.{{{persons}}}"),
        "card": (_("読み取ったカード"), f"card.{{{', '.join(sorted(CARD_KEYS))}}}"),
        "answers": (_("問診の回答"), "answers.<key>"),
        "session": (_("受付"), f"session.{{{', '.join(sorted(SESSION_KEYS))}}}"),
        "procedures": (_("この来庁での手続の一覧"), f"procedures.0.{{{', '.join(sorted(PROCEDURE_KEYS))}}}"),
        "city": (_("市区町村"), "city.name"),
        "today": (_("今日の日付"), "today"),
        "fields": (_("この様式の項目"), f"fields.{{{field_keys}}}"),
    }
    filters = {
        "wareki": (_("日付を和暦に（昭和55年1月1日）"), "resident.birth_date|wareki"),
        "age": (_("満年齢（既定は今日の時点）"), "resident.birth_date|age"),
        "join": (_("一覧をつなげる（区切り, キー）"), "household|join('、', 'shimei')"),
        "katakana": (_("ひらがなをカタカナに"), "fields.kana|katakana"),
        "iso": (_("日付を YYYY-MM-DD に"), "today|iso"),
        "default": (_("空のときの値"), "resident.katagaki|default('なし')"),
    }
    return {
        "roots": [(root, *roots.get(root, ("", root))) for root in CONTEXT_SCHEMA],
        "filters": [(name, *filters.get(name, ("", name))) for name in FILTERS],
        "suggestions": _binding_suggestions(fields),
    }


def _binding_suggestions(fields: list[dict[str, Any]]) -> list[str]:
    """Bindings offered as a datalist for prefill inputs."""
    suggestions = [f"resident.{key}" for key in sorted(PERSON_KEYS)]
    suggestions += ["resident.birth_date|wareki", "household", "today", "today|wareki", "city.name"]
    suggestions += [f"session.{key}" for key in sorted(SESSION_KEYS)]
    suggestions += [f"card.{key}" for key in sorted(CARD_KEYS)]
    suggestions += [f"fields.{field['key']}" for field in fields]
    return suggestions


def _basic_context(version: FormVersion) -> dict[str, Any]:
    return {
        "basic_form": VersionBasicForm(
            initial={
                "effective_from": version.effective_from,
                "effective_to": version.effective_to,
                "signing": version.signing,
                "note": version.note,
            }
        )
    }


def _dictionary_choices(version: FormVersion) -> list[tuple[str, str]]:
    present = {field["key"] for field in version.fields}
    return [
        (definition.key, f"{definition.label}（{definition.key}）")
        for definition in selectors.field_definitions_all()
        if definition.key not in present
    ]


def _fields_context(version: FormVersion) -> dict[str, Any]:
    rows = [
        {
            "field": field,
            "type_label": FIELD_TYPES.get(field.get("type", ""), field.get("type", "")),
            "edit_form": FieldEditForm(
                initial={k: field.get(k) for k in ("label", "required", "prefill")},
                auto_id=f"id_{field['key']}_%s",
            ),
            "first": number == 0,
            "last": number == len(version.fields) - 1,
        }
        for number, field in enumerate(version.fields)
    ]
    return {
        "field_rows": rows,
        "add_form": FieldAddForm(choices=_dictionary_choices(version)),
        "local_form": LocalFieldForm(auto_id="id_local_%s"),
        "binding_help": _binding_help(version.fields),
    }


def _asset_urls(version: FormVersion) -> dict[str, str]:
    return {
        name: reverse("forms_engine:version_asset", args=[version.template.code, version.number, name])
        + f"?v={sha256[:12]}"
        for name, sha256 in version.assets.values_list("name", "sha256")
    }


def _designer_data(version: FormVersion) -> dict[str, Any]:
    return {
        "layout": version.layout,
        "fields": [
            {"key": f["key"], "label": f.get("label", ""), "type": f.get("type", "")} for f in version.fields
        ],
        "backgrounds": _asset_urls(version),
        "readonly": version.is_published,
        "saveUrl": reverse("forms_engine:version_layout_save", args=[version.template.code, version.number]),
        "scale": DESIGNER_PX_PER_MM,
        "pageMm": list(A4_MM),
        "text": {
            "saved": _("保存しました。"),
            "saving": _("保存しています…"),
            "failed": _("保存できませんでした。"),
            "unsaved": _("保存していない変更があります。"),
            "page": _("ページ"),
            "qr": _("受付番号QR"),
            "pickField": _("項目から選ぶ…"),
            "noSelection": _("配置を選んでください。"),
        },
    }


def _layout_context(version: FormVersion) -> dict[str, Any]:
    layout = version.layout
    assets = set(version.assets.values_list("name", flat=True))
    pages = [
        {
            "number": number,
            "background": page.get("background", ""),
            "missing": bool(page.get("background")) and page.get("background") not in assets,
        }
        for number, page in enumerate(layout.get("pages", []), start=1)
    ]
    return {
        "mode": layout.get("mode", "flow"),
        "flow_form": FlowLayoutForm(initial={"body": layout.get("body", ""), "css": layout.get("css", "")}),
        "pages": pages,
        "background_form": BackgroundForm(),
        "designer": _designer_data(version),
        "binding_help": _binding_help(version.fields),
    }


def _csv_context(version: FormVersion) -> dict[str, Any]:
    return {"csv_rows": list(version.csv_columns), "binding_help": _binding_help(version.fields)}


def _check_context(version: FormVersion) -> dict[str, Any]:
    return {
        "problems": [] if version.is_published else services.version_problems(version),
        "preview_sources": registry.preview_sources(),
        "confirm_form": ConfirmForm(),
    }


_TAB_CONTEXT: dict[str, Callable[[FormVersion], dict[str, Any]]] = {
    "basic": _basic_context,
    "fields": _fields_context,
    "layout": _layout_context,
    "csv": _csv_context,
    "check": _check_context,
}


def _render_tab(
    request: HttpRequest,
    version: FormVersion,
    tab: str,
    *,
    status: int = 200,
    errors: Iterable[str] = (),
    **overrides: Any,
) -> HttpResponse:
    labels = _tab_labels()
    context = {
        "version": version,
        "form_template": version.template,
        "tab": tab,
        "tab_label": labels[tab],
        "tabs": [
            {
                "name": name,
                "label": labels[name],
                "url": reverse(url, args=[version.template.code, version.number]),
            }
            for name, url in TABS
        ],
        "errors": list(errors),
        **_TAB_CONTEXT[tab](version),
        **overrides,
    }
    return render(request, f"forms_engine/version_{tab}.html", context, status=status)


def _refused(
    request: HttpRequest, version: FormVersion, tab: str, exc: Exception, **overrides: Any
) -> HttpResponse:
    """The tab again with the service's problems, one per line; nothing changed."""
    status = 403 if version.is_published else 400
    return _render_tab(request, version, tab, status=status, errors=_problem_lines(exc), **overrides)


def _published_message(version: FormVersion) -> str:
    return _("%(version)s は公開済みのため変更できません。新しい版を作ってください") % {"version": version}


def _published(request: HttpRequest, version: FormVersion, tab: str) -> HttpResponse | None:
    """A refusal when ``version`` is published (the services refuse too; this says why before any other check)."""
    if not version.is_published:
        return None
    return _render_tab(request, version, tab, status=403, errors=[_published_message(version)])


def _saved(request: HttpRequest, version: FormVersion, url: str, message: str) -> HttpResponse:
    messages.success(request, message)
    return redirect(url, code=version.template.code, number=version.number)


@require_http_methods(["GET", "POST"])
@form_admin_required
def version_basic(request: HttpRequest, code: str, number: int) -> HttpResponse:
    version = _version(code, number)
    if request.method == "GET":
        return _render_tab(request, version, "basic")
    if refusal := _published(request, version, "basic"):
        return refusal
    form = VersionBasicForm(request.POST)
    if not form.is_valid():
        return _render_tab(request, version, "basic", status=400, basic_form=form)
    try:
        services.form_version_update(version=version, content=form.content(), actor=request.user)
    except FormEditError as exc:
        return _refused(request, version, "basic", exc, basic_form=form)
    return _saved(request, version, "forms_engine:version", _("基本情報を保存しました。"))


@require_GET
@form_admin_required
def version_fields(request: HttpRequest, code: str, number: int) -> HttpResponse:
    return _render_tab(request, _version(code, number), "fields")


def _update(request: HttpRequest, version: FormVersion, tab: str, value: Any, message: str) -> HttpResponse:
    """Replace one part of a draft (``fields`` or ``layout``, which are also the tabs' names) through the service;
    the tab shows the service's refusal, or the saved message."""
    try:
        services.form_version_update(version=version, content={tab: value}, actor=request.user)
    except FormEditError as exc:
        return _refused(request, version, tab, exc)
    return _saved(request, version, f"forms_engine:version_{tab}", message)


def _update_fields(
    request: HttpRequest, version: FormVersion, fields: list[Any], message: str
) -> HttpResponse:
    return _update(request, version, "fields", fields, message)


@require_POST
@form_admin_required
def version_field_add(request: HttpRequest, code: str, number: int) -> HttpResponse:
    version = _version(code, number)
    if refusal := _published(request, version, "fields"):
        return refusal
    form = FieldAddForm(request.POST, choices=_dictionary_choices(version))
    if not form.is_valid():
        return _render_tab(request, version, "fields", status=400, add_form=form)
    try:
        services.form_version_field_add(version=version, key=form.cleaned_data["key"], actor=request.user)
    except FormEditError as exc:
        return _refused(request, version, "fields", exc)
    return _saved(request, version, "forms_engine:version_fields", _("項目を追加しました。"))


@require_POST
@form_admin_required
def version_field_local(request: HttpRequest, code: str, number: int) -> HttpResponse:
    version = _version(code, number)
    if refusal := _published(request, version, "fields"):
        return refusal
    form = LocalFieldForm(request.POST, auto_id="id_local_%s")
    if not form.is_valid():
        return _render_tab(request, version, "fields", status=400, local_form=form)
    try:
        services.form_version_update(
            version=version, content={"fields": [*version.fields, form.spec_data()]}, actor=request.user
        )
    except FormEditError as exc:
        return _refused(request, version, "fields", exc, local_form=form)
    return _saved(request, version, "forms_engine:version_fields", _("項目を追加しました。"))


def _field_of(version: FormVersion, key: str) -> None:
    if not any(field["key"] == key for field in version.fields):
        raise Http404(key)


@require_POST
@form_admin_required
def version_field_edit(request: HttpRequest, code: str, number: int, key: str) -> HttpResponse:
    version = _version(code, number)
    if refusal := _published(request, version, "fields"):
        return refusal
    _field_of(version, key)
    form = FieldEditForm(request.POST)
    if not form.is_valid():
        return _render_tab(
            request,
            version,
            "fields",
            status=400,
            errors=[_("%(key)s: 入力を確認してください") % {"key": key}],
        )
    return _update_fields(
        request, version, form.fields_after(version.fields, key), _("%(key)s を保存しました。") % {"key": key}
    )


@require_POST
@form_admin_required
def version_field_remove(request: HttpRequest, code: str, number: int, key: str) -> HttpResponse:
    version = _version(code, number)
    if refusal := _published(request, version, "fields"):
        return refusal
    _field_of(version, key)
    fields = [field for field in version.fields if field["key"] != key]
    return _update_fields(request, version, fields, _("%(key)s を削除しました。") % {"key": key})


@require_POST
@form_admin_required
def version_field_move(request: HttpRequest, code: str, number: int, key: str) -> HttpResponse:
    version = _version(code, number)
    if refusal := _published(request, version, "fields"):
        return refusal
    _field_of(version, key)
    form = FieldMoveForm(request.POST)
    if not form.is_valid():
        return _render_tab(request, version, "fields", status=400)
    return _update_fields(request, version, form.fields_after(version.fields, key), _("並べ替えました。"))


@require_GET
@form_admin_required
def version_layout(request: HttpRequest, code: str, number: int) -> HttpResponse:
    return _render_tab(request, _version(code, number), "layout")


def _update_layout(
    request: HttpRequest, version: FormVersion, layout: dict[str, Any], message: str
) -> HttpResponse:
    return _update(request, version, "layout", layout, message)


@require_POST
@form_admin_required
def version_layout_flow(request: HttpRequest, code: str, number: int) -> HttpResponse:
    version = _version(code, number)
    if refusal := _published(request, version, "layout"):
        return refusal
    form = FlowLayoutForm(request.POST)
    if not form.is_valid():
        return _render_tab(request, version, "layout", status=400, flow_form=form)
    try:
        services.form_version_update(
            version=version, content={"layout": form.layout_after(version.layout)}, actor=request.user
        )
    except FormEditError as exc:
        return _refused(request, version, "layout", exc, flow_form=form)
    return _saved(request, version, "forms_engine:version_layout", _("レイアウトを保存しました。"))


@require_POST
@form_admin_required
def version_layout_save(request: HttpRequest, code: str, number: int) -> JsonResponse:
    """The designer's save: the whole layout as the JSON body; answers ``{"ok": true}`` or ``{"errors": [...]}``."""
    version = _version(code, number)
    if version.is_published:
        return JsonResponse({"errors": [_published_message(version)]}, status=403)
    try:
        layout = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return JsonResponse({"errors": [_("JSONとして読めません: %(error)s") % {"error": exc}]}, status=400)
    if not isinstance(layout, dict):
        return JsonResponse({"errors": [_("レイアウトはJSONのオブジェクトで送ってください")]}, status=400)
    try:
        services.form_version_update(version=version, content={"layout": layout}, actor=request.user)
    except FormEditError as exc:
        return JsonResponse({"errors": _problem_lines(exc)}, status=403 if version.is_published else 400)
    return JsonResponse({"ok": True})


@require_POST
@form_admin_required
def version_page_add(request: HttpRequest, code: str, number: int) -> HttpResponse:
    version = _version(code, number)
    if refusal := _published(request, version, "layout"):
        return refusal
    return _update_layout(request, version, pages_after_add(version.layout), _("ページを追加しました。"))


def _page_of(version: FormVersion, page: int) -> None:
    if not 1 <= page <= len(version.layout.get("pages", [])):
        raise Http404(str(page))


@require_POST
@form_admin_required
def version_page_remove(request: HttpRequest, code: str, number: int, page: int) -> HttpResponse:
    version = _version(code, number)
    if refusal := _published(request, version, "layout"):
        return refusal
    _page_of(version, page)
    layout = pages_after_remove(version.layout, page)
    return _update_layout(request, version, layout, _("%(page)sページ目を削除しました。") % {"page": page})


@require_POST
@form_admin_required
def version_page_background(request: HttpRequest, code: str, number: int, page: int) -> HttpResponse:
    version = _version(code, number)
    if refusal := _published(request, version, "layout"):
        return refusal
    _page_of(version, page)
    form = BackgroundForm(request.POST, request.FILES)
    if not form.is_valid():
        errors = [
            _("%(page)sページ目: %(error)s") % {"page": page, "error": e}
            for e in form.errors.get("image", [])
        ]
        return _render_tab(request, version, "layout", status=400, errors=errors)
    upload = form.cleaned_data["image"]
    content_type = upload.content_type or ""
    name = background_name(version.layout, page, content_type, version.assets.values_list("name", flat=True))
    try:
        # The image and the page that shows it are stored together or not at all.
        with transaction.atomic():
            services.form_asset_put(
                version=version,
                name=name,
                content=upload.read(),
                content_type=content_type,
                actor=request.user,
            )
            services.form_version_update(
                version=version,
                content={"layout": pages_after_background(version.layout, page, name)},
                actor=request.user,
            )
    except FormEditError as exc:
        return _refused(request, version, "layout", exc)
    return _saved(
        request,
        version,
        "forms_engine:version_layout",
        _("%(page)sページ目の背景を保存しました。") % {"page": page},
    )


@require_GET
@form_admin_required
def version_asset(request: HttpRequest, code: str, number: int, name: str) -> HttpResponse:
    """A background image's bytes, for the designer."""
    asset = get_object_or_404(FormAsset, version=_version(code, number), name=name)
    response = HttpResponse(bytes(asset.data), content_type=asset.content_type)
    # The URL carries the image's hash, so a replaced image gets a new URL.
    response["Cache-Control"] = "private, max-age=86400"
    return response


@require_http_methods(["GET", "POST"])
@form_admin_required
def version_csv(request: HttpRequest, code: str, number: int) -> HttpResponse:
    version = _version(code, number)
    if request.method == "GET":
        return _render_tab(request, version, "csv")
    if refusal := _published(request, version, "csv"):
        return refusal
    rows, _action = csv_rows_from_post(request.POST)
    try:
        services.form_version_update(version=version, content={"csv_columns": rows}, actor=request.user)
    except FormEditError as exc:
        return _refused(request, version, "csv", exc, csv_rows=rows)
    return _saved(request, version, "forms_engine:version_csv", _("CSV列を保存しました。"))


@require_GET
@form_admin_required
def version_check(request: HttpRequest, code: str, number: int) -> HttpResponse:
    return _render_tab(request, _version(code, number), "check")


def _preview_error(
    request: HttpRequest, version: FormVersion, errors: list[str], *, status: int
) -> HttpResponse:
    return render(
        request,
        "forms_engine/preview_error.html",
        {"version": version, "form_template": version.template, "errors": errors},
        status=status,
    )


@require_GET
@form_admin_required
def version_preview(request: HttpRequest, code: str, number: int) -> HttpResponse:
    """The version as a PDF, filled from the sample household or from a chosen record (a resident: audited)."""
    version = _version(code, number)
    form = PreviewForm(request.GET)
    form.is_valid()
    source_name, ref = form.cleaned_data.get("source", ""), form.cleaned_data.get("ref", "").strip()
    problems = services.version_problems(version)
    if problems:
        return _preview_error(request, version, problems, status=400)
    if source_name:
        preview = registry.preview_source(source_name)
        if preview is None:
            raise Http404(source_name)
        if not ref:
            return _preview_error(
                request, version, [_("%(ref)sを入力してください") % {"ref": preview.ref_label}], status=400
            )
        context = preview.load(ref=ref, actor=request.user)
        if context is None:
            message = _("その%(ref)sの%(label)sはいません") % {
                "ref": preview.ref_label,
                "label": preview.label,
            }
            return _preview_error(request, version, [message], status=404)
    else:
        context = selectors.form_sample_context()
    try:
        spec = version.spec()
        pdf = render_packet_pdf(
            [(selectors.render_source(version=version), services.form_fill(spec=spec, context=context))],
            reception_no="PREVIEW",
        )
    except ValidationError as exc:
        return _preview_error(request, version, schema_errors(exc), status=400)
    except FormRenderError as exc:
        return _preview_error(request, version, _problem_lines(exc), status=400)
    return inline_pdf(pdf, filename=f"{code}-v{number}-preview.pdf")


@require_POST
@form_admin_required
def version_publish(request: HttpRequest, code: str, number: int) -> HttpResponse:
    version = _version(code, number)
    if refusal := _published(request, version, "check"):
        return refusal
    if not ConfirmForm(request.POST).is_valid():
        return _render_tab(
            request, version, "check", status=400, errors=[_("公開するには確認にチェックを入れてください。")]
        )
    try:
        services.form_version_publish(version=version, actor=request.user)
    except FormEditError as exc:
        return _refused(request, version, "check", exc)
    return _saved(request, version, "forms_engine:version", _("第%(n)s版を公開しました。") % {"n": number})


@require_POST
@form_admin_required
def version_delete(request: HttpRequest, code: str, number: int) -> HttpResponse:
    version = _version(code, number)
    if refusal := _published(request, version, "check"):
        return refusal
    if not ConfirmForm(request.POST).is_valid():
        return _render_tab(
            request, version, "check", status=400, errors=[_("削除するには確認にチェックを入れてください。")]
        )
    try:
        services.form_version_delete(version=version, actor=request.user)
    except FormEditError as exc:
        return _refused(request, version, "check", exc)
    messages.success(request, _("第%(n)s版の下書きを削除しました。") % {"n": number})
    return redirect("forms_engine:template", code=code)


# --- the field dictionary -----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@form_admin_required
def dictionary(request: HttpRequest) -> HttpResponse:
    """The field dictionary (項目辞書): every entry, and a form to create one or change the one in ``?key=``."""
    key = request.GET.get("key", "")
    definition = selectors.field_definitions_all().filter(key=key).first() if key else None
    errors: list[str] = []
    status = 200
    if request.method == "POST":
        form = FieldDefinitionForm(request.POST, editing=definition is not None)
        if form.is_valid():
            try:
                spec = FieldSpec.model_validate(form.spec_data())
            except ValidationError as exc:
                errors = schema_errors(exc)
            else:
                try:
                    services.field_definition_save(spec=spec, actor=request.user)
                except services.FormEditError as exc:
                    errors = [str(exc)]
                else:
                    messages.success(request, _("%(key)s を保存しました。") % {"key": spec.key})
                    return redirect(f"{reverse('forms_engine:dictionary')}?key={spec.key}")
        status = 400
    else:
        form = FieldDefinitionForm(
            initial=FieldDefinitionForm.initial_from(definition.spec) if definition else None,
            editing=definition is not None,
        )
    return render(
        request,
        "forms_engine/dictionary.html",
        {
            "definitions": selectors.field_definitions_all(),
            "definition": definition,
            "form": form,
            "errors": errors,
            "binding_help": _binding_help([]),
        },
        status=status,
    )
