"""The shape of a form version and of the form file (``madoguchi-form/2``), validated with pydantic.

One schema serves the database (a version's ``fields``, ``layout`` and ``csv_columns`` are stored as this JSON),
the form-admin UI and the import of shared files, so a version that loads is a version that renders. Every
problem is reported with its place, e.g. ``versions.0.fields.2.type: unknown type 'colour'``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import io
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .bindings import BindingInvalid, binding_check

FORM_FILE_FORMAT = "madoguchi-form/2"
ASSET_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
# Form codes the form-admin pages use as path segments (/forms/create, /forms/import, /forms/dictionary/).
RESERVED_CODES = frozenset({"create", "import", "dictionary"})

FIELD_TYPES: dict[str, str] = {
    "mj_text": "文字（MJ+）",
    "kana": "カナ",
    "date": "日付（和暦表示）",
    "choice": "選択",
    "number": "数値",
    "phone": "電話番号",
    "postal_code": "郵便番号",
    "address": "住所",
    "person_list": "人の一覧",
    "signature": "署名",
    "checkbox": "チェック",
}
FieldType = Literal[
    "mj_text",
    "kana",
    "date",
    "choice",
    "number",
    "phone",
    "postal_code",
    "address",
    "person_list",
    "signature",
    "checkbox",
]
# The resident's languages besides Japanese (product.md R-C5): やさしい日本語, English, 简体中文, 한국어,
# Tiếng Việt, Português, नेपाली.
TRANSLATION_LANGUAGES = ("ja-easy", "en", "zh-hans", "ko", "vi", "pt", "ne")
SIGNING_MODES = {"tablet": "タブレットで署名", "paper": "印刷した紙に署名"}
A4_MM = (210.0, 297.0)
MAX_BACKGROUND_BYTES = 8 * 1024 * 1024
BACKGROUND_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG"}

Key = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Text = Annotated[str, Field(max_length=200)]


class SchemaModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Translation(SchemaModel):
    label: Text = ""
    help: Annotated[str, Field(max_length=1000)] = ""


class FieldSpec(SchemaModel):
    """A field of a form: from the field dictionary (``dictionary`` true: copied when the version was made, so a
    published version never changes with the dictionary) or local to the form."""

    key: Key
    label: Annotated[str, Field(min_length=1, max_length=100)]
    type: FieldType
    required: bool = False
    max_length: Annotated[int, Field(ge=1, le=2000)] | None = None
    min_value: int | None = None
    max_value: int | None = None
    choices: tuple[Annotated[str, Field(min_length=1, max_length=100)], ...] = ()
    columns: tuple[FieldSpec, ...] = ()
    max_items: Annotated[int, Field(ge=1, le=50)] = 10
    help: Annotated[str, Field(max_length=1000)] = ""
    translations: dict[str, Translation] = {}
    prefill: Annotated[str, Field(max_length=300)] = ""
    dictionary: bool = False

    @field_validator("translations")
    @classmethod
    def _known_languages(cls, value: dict[str, Translation]) -> dict[str, Translation]:
        unknown = sorted(set(value) - set(TRANSLATION_LANGUAGES))
        if unknown:
            raise ValueError(
                f"unknown language {unknown[0]!r} (languages: {', '.join(TRANSLATION_LANGUAGES)})"
            )
        return value

    @model_validator(mode="after")
    def _type_rules(self) -> FieldSpec:
        if self.type == "choice" and not self.choices:
            raise ValueError("a choice field needs its choices")
        if self.type != "choice" and self.choices:
            raise ValueError(f"only a choice field has choices, not a {self.type} field")
        if self.type == "person_list":
            if not self.columns:
                raise ValueError("a person list needs its columns")
            if any(column.type in ("person_list", "signature") for column in self.columns):
                raise ValueError("a person list's columns cannot be lists or signatures")
            if len({column.key for column in self.columns}) != len(self.columns):
                raise ValueError("a person list's column keys must differ")
        elif self.columns:
            raise ValueError(f"only a person list has columns, not a {self.type} field")
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise ValueError("min_value is larger than max_value")
        return self

    def label_in(self, language: str) -> str:
        """The label in ``language``, Japanese when there is no translation."""
        translation = self.translations.get(language)
        return translation.label if translation is not None and translation.label else self.label


class Placement(SchemaModel):
    """A value placed on an overlay page: a box in millimetres from the page's top-left corner."""

    value: Annotated[str, Field(min_length=1, max_length=300)]
    page: Annotated[int, Field(ge=1)] = 1
    x: Annotated[float, Field(ge=0, le=A4_MM[0])]
    y: Annotated[float, Field(ge=0, le=A4_MM[1])]
    width: Annotated[float, Field(gt=0, le=A4_MM[0])] = 60.0
    height: Annotated[float, Field(gt=0, le=A4_MM[1])] = 8.0
    font_size: Annotated[float, Field(ge=4, le=72)] = 11.0
    align: Literal["left", "center", "right"] = "left"
    kind: Literal["text", "image", "check"] = "text"

    @model_validator(mode="after")
    def _inside_the_page(self) -> Placement:
        if self.x + self.width > A4_MM[0] + 0.01 or self.y + self.height > A4_MM[1] + 0.01:
            raise ValueError(f"the box for {self.value!r} reaches beyond the A4 page")
        return self


class OverlayPage(SchemaModel):
    background: Annotated[str, Field(max_length=100)] = ""


class QrBox(SchemaModel):
    """Where the reception-number QR code goes on an overlay page (mm); flowing forms put it in the margin."""

    x: Annotated[float, Field(ge=0, le=A4_MM[0] - 10)] = 187.0
    y: Annotated[float, Field(ge=0, le=A4_MM[1] - 10)] = 274.0
    size: Annotated[float, Field(ge=10, le=40)] = 18.0


class Layout(SchemaModel):
    """``flow``: an HTML/CSS template (sandboxed Jinja2) flowing over A4 pages. ``overlay``: the scanned official
    form as each page's background, with values placed in millimetres; no HTML."""

    mode: Literal["flow", "overlay"]
    body: Annotated[str, Field(max_length=200_000)] = ""
    css: Annotated[str, Field(max_length=100_000)] = ""
    pages: tuple[OverlayPage, ...] = ()
    placements: tuple[Placement, ...] = ()
    qr: QrBox = QrBox()

    @model_validator(mode="after")
    def _mode_rules(self) -> Layout:
        if self.mode == "flow":
            if not self.body.strip():
                raise ValueError("a flowing layout needs its body template")
            if self.pages or self.placements:
                raise ValueError("a flowing layout has no pages or placements (those are for overlay)")
        else:
            if self.body:
                raise ValueError("an overlay layout has no body template; place fields instead")
            if not self.pages:
                raise ValueError("an overlay layout needs at least one page")
            for number, placement in enumerate(self.placements):
                if placement.page > len(self.pages):
                    raise ValueError(
                        f"placements.{number}: page {placement.page} does not exist "
                        f"(the layout has {len(self.pages)})"
                    )
        return self


class CsvColumn(SchemaModel):
    header: Annotated[str, Field(min_length=1, max_length=100)]
    value: Annotated[str, Field(min_length=1, max_length=300)]


class VersionSpec(SchemaModel):
    """The content of one version: what a form admin edits while it is a draft and what never changes once
    published."""

    number: Annotated[int, Field(ge=1)]
    status: Literal["draft", "published"] = "draft"
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    signing: Literal["tablet", "paper"] = "paper"
    fields: tuple[FieldSpec, ...] = ()
    layout: Layout
    csv_columns: tuple[CsvColumn, ...] = ()
    note: Annotated[str, Field(max_length=2000)] = ""

    @model_validator(mode="after")
    def _consistent(self) -> VersionSpec:
        if self.effective_from and self.effective_to and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        keys = [field.key for field in self.fields]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ValueError(f"field {duplicates[0]!r} appears twice")
        headers = [column.header for column in self.csv_columns]
        if len(set(headers)) != len(headers):
            raise ValueError("two CSV columns have the same header")
        problems = self.binding_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def field_columns(self) -> dict[str, tuple[str, ...]]:
        return {field.key: tuple(column.key for column in field.columns) for field in self.fields}

    def binding_problems(self) -> list[str]:
        """Every prefill, CSV column and placement whose binding cannot be read or reaches outside the context."""
        columns = self.field_columns()
        places: list[tuple[str, str]] = [
            (f"fields.{f.key}.prefill", f.prefill) for f in self.fields if f.prefill
        ]
        places += [(f"csv_columns.{n}.value", c.value) for n, c in enumerate(self.csv_columns)]
        places += [(f"layout.placements.{n}.value", p.value) for n, p in enumerate(self.layout.placements)]
        problems = []
        for where, text in places:
            try:
                binding_check(text, fields=columns)
            except BindingInvalid as exc:
                problems.append(f"{where}: {exc}")
        return problems

    def backgrounds(self) -> list[str]:
        return [page.background for page in self.layout.pages if page.background]


class Asset(SchemaModel):
    """A background image carried in a form file: base64 data with its SHA-256, checked on import."""

    content_type: Literal["image/png", "image/jpeg"]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    data: str

    def content(self) -> bytes:
        try:
            return base64.b64decode(self.data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"not valid base64: {exc}") from exc

    @model_validator(mode="after")
    def _intact(self) -> Asset:
        content = self.content()
        if hashlib.sha256(content).hexdigest() != self.sha256:
            raise ValueError("the data does not match its sha256 (the file is damaged)")
        background_problem(content, self.content_type)
        return self


def background_problem(content: bytes, content_type: str) -> None:
    """Raise ValueError unless ``content`` is a readable image of ``content_type`` that fits the size limit."""
    from PIL import Image, UnidentifiedImageError

    if len(content) > MAX_BACKGROUND_BYTES:
        raise ValueError(f"the image is larger than {MAX_BACKGROUND_BYTES // (1024 * 1024)} MB")
    try:
        with Image.open(io.BytesIO(content)) as image:
            image.verify()
            actual = image.format
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"not a readable image: {exc}") from exc
    if BACKGROUND_TYPES.get(content_type) != actual:
        raise ValueError(f"the image is {actual}, not {content_type}")


class FormFile(SchemaModel):
    """A whole form as one file: the template, one or more versions and their background images."""

    format: Literal["madoguchi-form/2"]
    code: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=2000)] = ""

    @field_validator("code")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_CODES:
            raise ValueError(f"{value!r} is a reserved word of the forms pages; choose another code")
        return value

    # At least one, checked below: a length rule here would also fire for every version that has errors.
    versions: tuple[VersionSpec, ...]
    assets: dict[Annotated[str, Field(pattern=ASSET_NAME_PATTERN)], Asset] = {}

    @model_validator(mode="after")
    def _complete(self) -> FormFile:
        if not self.versions:
            raise ValueError("the file holds no version")
        numbers = [version.number for version in self.versions]
        if len(set(numbers)) != len(numbers):
            raise ValueError("two versions have the same number")
        for version in self.versions:
            for name in version.backgrounds():
                if name not in self.assets:
                    raise ValueError(f"version {version.number}: background {name!r} is not in assets")
        return self


def schema_errors(exc: ValidationError) -> list[str]:
    """pydantic's errors as ``place: message`` lines a form admin can act on."""
    lines = []
    for error in exc.errors():
        place = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{place}: {message}" if place else message)
    return lines


def version_spec_load(data: Any) -> VersionSpec:
    """A VersionSpec from plain JSON data; ValueError with every problem, one per line."""
    try:
        return VersionSpec.model_validate(data)
    except ValidationError as exc:
        raise ValueError("\n".join(schema_errors(exc))) from None
