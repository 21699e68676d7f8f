"""Django forms of the form-admin UI (様式管理). They read what a form admin typed and turn it into the JSON of
``forms_engine.schema``; the services validate the whole version again and decide."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from django import forms
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from .bindings import BindingInvalid, binding_check
from .schema import FIELD_TYPES, RESERVED_CODES, SIGNING_MODES, TRANSLATION_LANGUAGES

MAX_FORM_FILE_BYTES = 64 * 1024 * 1024
LAYOUT_MODES = {"flow": _("流し込み（HTML）"), "overlay": _("重ね合わせ（スキャンした様式に配置）")}
# Each language's name in that language; only やさしい日本語 is Japanese UI text.
LANGUAGE_NAMES: dict[str, Any] = {
    "ja-easy": _("やさしい日本語"),
    "en": "English",
    "zh-hans": "简体中文",
    "ko": "한국어",
    "vi": "Tiếng Việt",
    "pt": "Português",
    "ne": "नेपाली",
}

_code_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{0,63}$", _("半角英小文字・数字・「-」「_」で入力してください（先頭は英数字）")
)
_key_validator = RegexValidator(
    r"^[a-z][a-z0-9_]{0,63}$", _("半角英小文字で始め、英小文字・数字・「_」で入力してください")
)


class FormTemplateCreateForm(forms.Form):
    code = forms.CharField(label=_("様式コード"), max_length=64, validators=[_code_validator])
    name = forms.CharField(label=_("様式名"), max_length=200)
    description = forms.CharField(label=_("説明"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    mode = forms.ChoiceField(label=_("レイアウト"), choices=list(LAYOUT_MODES.items()), initial="flow")

    def clean_code(self) -> str:
        code: str = self.cleaned_data["code"]
        if code in RESERVED_CODES:
            raise forms.ValidationError(_("「%(code)s」は様式コードに使えません") % {"code": code})
        return code


class FormImportForm(forms.Form):
    file = forms.FileField(label=_("様式ファイル（.madoguchi-form.json）"))

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FORM_FILE_BYTES:
            raise forms.ValidationError(
                _("ファイルが大きすぎます（%(mb)s MB まで）") % {"mb": MAX_FORM_FILE_BYTES // (1024 * 1024)}
            )
        return upload


class DraftCreateForm(forms.Form):
    source = forms.TypedChoiceField(label=_("元にする版"), coerce=int, empty_value=None, required=False)

    def __init__(self, *args: Any, numbers: Sequence[int] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["source"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [(n, _("第%(n)s版") % {"n": n}) for n in numbers] + [("", _("空の版から"))]


class VersionBasicForm(forms.Form):
    effective_from = forms.DateField(
        label=_("適用開始日"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    effective_to = forms.DateField(
        label=_("適用終了日"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    signing = forms.ChoiceField(label=_("署名の方法"), choices=list(SIGNING_MODES.items()))
    note = forms.CharField(
        label=_("メモ"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def content(self) -> dict[str, Any]:
        """The version content these inputs replace."""
        data = self.cleaned_data
        return {
            "effective_from": data["effective_from"].isoformat() if data["effective_from"] else None,
            "effective_to": data["effective_to"].isoformat() if data["effective_to"] else None,
            "signing": data["signing"],
            "note": data["note"],
        }


class FieldAddForm(forms.Form):
    key = forms.ChoiceField(label=_("項目辞書から追加"))

    def __init__(self, *args: Any, choices: Sequence[tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["key"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = list(choices)


class FieldSpecForm(forms.Form):
    """The inputs of one ``schema.FieldSpec``; ``spec_data()`` is its JSON (defaults left out)."""

    key = forms.CharField(label=_("項目キー"), max_length=64, validators=[_key_validator])
    label = forms.CharField(label=_("項目名"), max_length=100)
    type = forms.ChoiceField(label=_("型"), choices=list(FIELD_TYPES.items()))
    required = forms.BooleanField(label=_("必須"), required=False)
    max_length = forms.IntegerField(label=_("最大文字数"), required=False, min_value=1, max_value=2000)
    min_value = forms.IntegerField(label=_("最小値（数値）"), required=False)
    max_value = forms.IntegerField(label=_("最大値（数値）"), required=False)
    choices = forms.CharField(
        label=_("選択肢（1行に1つ）"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    columns = forms.CharField(
        label=_("列（人の一覧のみ・JSON）"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
        help_text=_('例: [{"key": "shimei", "label": "氏名", "type": "mj_text"}]'),
    )
    max_items = forms.IntegerField(
        label=_("最大人数（人の一覧のみ）"), required=False, min_value=1, max_value=50
    )
    help = forms.CharField(
        label=_("説明"), required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )
    prefill = forms.CharField(
        label=_("初期値（バインディング）"),
        required=False,
        max_length=300,
        widget=forms.TextInput(
            attrs={"class": "mono", "placeholder": "resident.shimei", "list": "binding-suggestions"}
        ),
    )

    def clean_columns(self) -> list[Any]:
        text = self.cleaned_data["columns"].strip()
        if not text:
            return []
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(_("JSONとして読めません: %(error)s") % {"error": exc.msg}) from None
        if not isinstance(value, list):
            raise forms.ValidationError(_("列はJSONの配列で書いてください"))
        return value

    def spec_data(self) -> dict[str, Any]:
        """The field as ``schema.FieldSpec`` JSON."""
        data = self.cleaned_data
        spec: dict[str, Any] = {"key": data["key"], "label": data["label"], "type": data["type"]}
        if data["required"]:
            spec["required"] = True
        for name in ("max_length", "min_value", "max_value", "max_items"):
            if data[name] is not None:
                spec[name] = data[name]
        choices = lines(data["choices"])
        if choices:
            spec["choices"] = choices
        if data["columns"]:
            spec["columns"] = data["columns"]
        for name in ("help", "prefill"):
            if data[name].strip():
                spec[name] = data[name].strip()
        return spec

    @classmethod
    def initial_from(cls, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Initial values of the inputs for a stored field spec."""
        initial = {
            name: spec.get(name)
            for name in (
                "key",
                "label",
                "type",
                "required",
                "max_length",
                "min_value",
                "max_value",
                "max_items",
                "help",
                "prefill",
            )
        }
        initial["choices"] = "\n".join(spec.get("choices") or ())
        columns = spec.get("columns") or ()
        initial["columns"] = json.dumps(list(columns), ensure_ascii=False, indent=1) if columns else ""
        return initial


class LocalFieldForm(FieldSpecForm):
    """A field local to one form (not in the dictionary)."""


class FieldDefinitionForm(FieldSpecForm):
    """A dictionary entry (項目辞書): a field spec with its translations."""

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            # The key names the entry; a different key is a different entry.
            self.fields["key"].widget.attrs["readonly"] = True
        for language in TRANSLATION_LANGUAGES:
            name = LANGUAGE_NAMES.get(language, language)
            self.fields[f"label_{language}"] = forms.CharField(label=name, required=False, max_length=200)
            self.fields[f"help_{language}"] = forms.CharField(
                label=_("%(language)sの説明") % {"language": name}, required=False, max_length=1000
            )

    def clean_prefill(self) -> str:
        """A dictionary entry's binding reads the documented context; it cannot name a form's own fields."""
        text: str = self.cleaned_data["prefill"].strip()
        if not text:
            return text
        try:
            binding_check(text, fields={})  # the rule field_definition_save applies, shown at the field
        except BindingInvalid as exc:
            raise forms.ValidationError(str(exc)) from None
        return text

    def spec_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in FieldSpecForm.base_fields]

    def translation_rows(self) -> Iterator[tuple[str, forms.BoundField, forms.BoundField]]:
        for language in TRANSLATION_LANGUAGES:
            yield language, self[f"label_{language}"], self[f"help_{language}"]

    def spec_data(self) -> dict[str, Any]:
        spec = super().spec_data()
        translations = {}
        for language in TRANSLATION_LANGUAGES:
            label = self.cleaned_data[f"label_{language}"].strip()
            help_text = self.cleaned_data[f"help_{language}"].strip()
            if label or help_text:
                translations[language] = {
                    name: value for name, value in (("label", label), ("help", help_text)) if value
                }
        if translations:
            spec["translations"] = translations
        return spec

    @classmethod
    def initial_from(cls, spec: Mapping[str, Any]) -> dict[str, Any]:
        initial = super().initial_from(spec)
        for language, translation in (spec.get("translations") or {}).items():
            initial[f"label_{language}"] = translation.get("label", "")
            initial[f"help_{language}"] = translation.get("help", "")
        return initial


class FieldEditForm(forms.Form):
    """What a form changes of a field it holds: the label, whether it is required, the prefill binding."""

    label = forms.CharField(label=_("項目名"), max_length=100)
    required = forms.BooleanField(label=_("必須"), required=False)
    prefill = forms.CharField(
        label=_("初期値（バインディング）"),
        required=False,
        max_length=300,
        widget=forms.TextInput(attrs={"class": "mono", "list": "binding-suggestions"}),
    )

    def fields_after(self, fields: Sequence[Mapping[str, Any]], key: str) -> list[dict[str, Any]]:
        """The version's field list with field ``key`` changed."""
        changes = {
            "label": self.cleaned_data["label"],
            "required": self.cleaned_data["required"],
            "prefill": self.cleaned_data["prefill"].strip(),
        }
        return [{**field, **changes} if field["key"] == key else dict(field) for field in fields]


class FieldMoveForm(forms.Form):
    direction = forms.ChoiceField(choices=[("up", _("上へ")), ("down", _("下へ"))])

    def fields_after(self, fields: Sequence[Mapping[str, Any]], key: str) -> list[dict[str, Any]]:
        """The version's field list with field ``key`` one place up or down (unchanged at either end)."""
        items = [dict(field) for field in fields]
        index = next(n for n, field in enumerate(items) if field["key"] == key)
        other = index - 1 if self.cleaned_data["direction"] == "up" else index + 1
        if 0 <= other < len(items):
            items[index], items[other] = items[other], items[index]
        return items


class FlowLayoutForm(forms.Form):
    body = forms.CharField(
        label=_("本文テンプレート（Jinja2）"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 18, "class": "mono"}),
    )
    css = forms.CharField(
        label=_("CSS"), required=False, widget=forms.Textarea(attrs={"rows": 8, "class": "mono"})
    )

    def layout_after(self, layout: Mapping[str, Any]) -> dict[str, Any]:
        return {**layout, "mode": "flow", "body": self.cleaned_data["body"], "css": self.cleaned_data["css"]}


class BackgroundForm(forms.Form):
    image = forms.ImageField(label=_("背景画像（PNG・JPEG）"))


class ConfirmForm(forms.Form):
    confirm = forms.BooleanField(label=_("確認しました"))


class PreviewForm(forms.Form):
    source = forms.CharField(required=False)
    ref = forms.CharField(required=False, max_length=64)


def lines(text: str) -> list[str]:
    """The non-empty lines of ``text``, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def csv_rows_from_post(post: Any) -> tuple[list[dict[str, str]], str]:
    """The CSV columns posted by the CSV tab (``header`` and ``value`` lists, blank rows dropped) with the
    requested row action (``up:3``, ``down:3``, ``remove:3``) applied."""
    rows = [
        {"header": header.strip(), "value": value.strip()}
        for header, value in zip(post.getlist("header"), post.getlist("value"), strict=False)
    ]
    action = post.get("action", "save")
    verb, _sep, number = action.partition(":")
    if number.isdigit() and int(number) < len(rows):
        index = int(number)
        if verb == "remove":
            del rows[index]
        elif verb in ("up", "down"):
            other = index - 1 if verb == "up" else index + 1
            if 0 <= other < len(rows):
                rows[index], rows[other] = rows[other], rows[index]
    return [row for row in rows if row["header"] or row["value"]], verb


def pages_after_add(layout: Mapping[str, Any]) -> dict[str, Any]:
    return {**layout, "pages": [*layout.get("pages", []), {"background": ""}]}


def pages_after_remove(layout: Mapping[str, Any], page: int) -> dict[str, Any]:
    """The layout without page ``page`` (1-based): its placements go, later pages' placements move up one."""
    pages = [p for n, p in enumerate(layout.get("pages", []), start=1) if n != page]
    placements = [
        {**p, "page": p.get("page", 1) - 1 if p.get("page", 1) > page else p.get("page", 1)}
        for p in layout.get("placements", [])
        if p.get("page", 1) != page
    ]
    return {**layout, "pages": pages, "placements": placements}


def pages_after_background(layout: Mapping[str, Any], page: int, name: str) -> dict[str, Any]:
    pages = [
        {**p, "background": name} if n == page else dict(p)
        for n, p in enumerate(layout.get("pages", []), start=1)
    ]
    return {**layout, "pages": pages}


BACKGROUND_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg"}


def background_name(layout: Mapping[str, Any], page: int, content_type: str, taken: Collection[str]) -> str:
    """The asset name for page ``page``'s new background: the page's current name when only it uses that name
    and the image kind is the same (the image is replaced in place), else a new ``page<N>.<ext>``."""
    extension = BACKGROUND_EXTENSIONS.get(content_type, "img")
    pages = list(layout.get("pages", []))
    current = pages[page - 1].get("background", "") if 0 < page <= len(pages) else ""
    shared = sum(1 for p in pages if p.get("background") == current) > 1
    if current and not shared and current.endswith(f".{extension}"):
        return current
    used = set(taken) | {p.get("background", "") for p in pages}
    name, number = f"page{page}.{extension}", 1
    while name in used:
        number += 1
        name = f"page{page}-{number}.{extension}"
    return name
