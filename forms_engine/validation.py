"""Server-side validation of filled form data, field by field, with the rules the UI shows (``input_rules``).

Values are kept byte-exact: a name or address is checked, never normalised. A value a spreadsheet would take for
a formula is refused (domain.md §4), and every text is checked against MJ+ (domain.md §3).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

from django.utils.translation import gettext as _

from madoguchi.moji.csvsafe import FORMULA_PREFIXES
from madoguchi.moji.text import mj_problems
from madoguchi.moji.wareki import parse_date

from .schema import FieldSpec

_KANA = re.compile(r"[\u30a0-\u30ff\u3000 ・ー]*")
# ASCII digits only, as in the browser (and the core system): Python's \d would also take full-width ones.
_PHONE = re.compile(r"0\d{1,4}-?\d{1,4}-?\d{3,4}", re.ASCII)
_POSTAL = re.compile(r"\d{3}-?\d{4}", re.ASCII)
_SIGNATURE_PREFIX = "data:image/png;base64,"
MAX_SIGNATURE_BYTES = 512 * 1024
DEFAULT_MAX_LENGTH = {"mj_text": 100, "kana": 100, "address": 200}

FieldErrors = dict[str, list[str]]


def input_rules(spec: FieldSpec) -> dict[str, Any]:
    """The HTML input attributes that show ``spec``'s rules in the browser; the server applies the same."""
    rules: dict[str, Any] = {"required": spec.required}
    if spec.type in DEFAULT_MAX_LENGTH:
        rules["maxlength"] = spec.max_length or DEFAULT_MAX_LENGTH[spec.type]
    if spec.type == "kana":
        rules["pattern"] = _KANA.pattern
    elif spec.type == "phone":
        rules.update(pattern=_PHONE.pattern, inputmode="tel", type="tel")
    elif spec.type == "postal_code":
        rules.update(pattern=_POSTAL.pattern, inputmode="numeric")
    elif spec.type == "number":
        rules.update(type="number", min=spec.min_value, max=spec.max_value)
    elif spec.type == "checkbox":
        rules["type"] = "checkbox"
    # ``is``, not ``in``: a minimum of 0 is a rule (0 == False).
    return {key: value for key, value in rules.items() if value is not None and value is not False}


def _text_problem(value: str, spec: FieldSpec) -> str | None:
    limit = spec.max_length or DEFAULT_MAX_LENGTH.get(spec.type)
    if limit and len(value) > limit:
        return _("%(limit)s文字以内で入力してください（%(count)s文字）") % {
            "limit": limit,
            "count": len(value),
        }
    if value.startswith(FORMULA_PREFIXES):
        return _("先頭の「%(char)s」は表計算ソフトで数式と扱われるため使えません") % {
            "char": value[:1].strip() or "空白"
        }
    problems = mj_problems(value)
    if problems:
        first = problems[0]
        return _("%(index)s文字目: %(reason)s") % {"index": first.index + 1, "reason": first.reason}
    return None


def _clean_scalar(spec: FieldSpec, raw: Any) -> tuple[Any, str | None]:
    """One value's cleaned form and its problem (None when fine); ``raw`` is not empty."""
    if spec.type == "checkbox":
        if isinstance(raw, bool):
            return raw, None
        if raw in ("1", "on", "true"):
            return True, None
        return None, _("チェックの値が正しくありません")
    if spec.type == "number":
        try:
            number = int(str(raw).strip())
        except ValueError:
            return None, _("数字で入力してください")
        if spec.min_value is not None and number < spec.min_value:
            return None, _("%(min)s以上にしてください") % {"min": spec.min_value}
        if spec.max_value is not None and number > spec.max_value:
            return None, _("%(max)s以下にしてください") % {"max": spec.max_value}
        return number, None
    if spec.type == "date":
        if isinstance(raw, dt.date):
            return raw.isoformat(), None
        try:
            return parse_date(str(raw)).isoformat(), None
        except ValueError:
            return None, _("日付として読めません（例: R8.4.1、令和8年4月1日、2026-04-01）")
    if not isinstance(raw, str):
        return None, _("文字で入力してください")
    if spec.type == "signature":
        return _clean_signature(raw)
    if spec.type == "choice":
        return (raw, None) if raw in spec.choices else (None, _("選択肢から選んでください"))
    if spec.type == "kana" and not _KANA.fullmatch(raw):
        return None, _("全角カタカナで入力してください")
    if spec.type == "phone" and not _PHONE.fullmatch(raw):
        return None, _("電話番号は数字とハイフンで入力してください（例: 087-839-2011）")
    if spec.type == "postal_code" and not _POSTAL.fullmatch(raw):
        return None, _("郵便番号は7桁の数字で入力してください（例: 760-8571）")
    return raw, _text_problem(raw, spec)


def _clean_signature(raw: str) -> tuple[Any, str | None]:
    if not raw.startswith(_SIGNATURE_PREFIX):
        return None, _("署名はPNG画像で受け取ります")
    try:
        content = base64.b64decode(raw[len(_SIGNATURE_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return None, _("署名の画像が壊れています")
    if len(content) > MAX_SIGNATURE_BYTES or not _is_png(content):
        return None, _("署名の画像が壊れているか大きすぎます")
    return raw, None


def _is_png(content: bytes) -> bool:
    """A whole, readable PNG: the signature header alone is not enough for the PDF to show it."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(content)) as image:
            image.verify()
            return image.format == "PNG"
    except Exception:  # Pillow raises many kinds (OSError, SyntaxError, DecompressionBombError …)
        return False


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value is False


def _is_blank(value: Any) -> bool:
    """Empty, or only spaces: not enough for a required field (the value itself is kept as typed)."""
    return _is_empty(value) or (isinstance(value, str) and not value.strip())


def _clean_list(spec: FieldSpec, raw: Any, errors: FieldErrors) -> list[dict[str, Any]]:
    if not isinstance(raw, list | tuple) or not all(isinstance(row, Mapping) for row in raw):
        errors.setdefault(spec.key, []).append(_("一覧の形が正しくありません"))
        return []
    if len(raw) > spec.max_items:
        errors.setdefault(spec.key, []).append(_("%(max)s人までです") % {"max": spec.max_items})
    rows = []
    for number, row in enumerate(raw[: spec.max_items]):
        prefix = f"{spec.key}.{number}."
        _refuse_unknown(row, spec.columns, prefix=prefix, errors=errors)
        # A blank row (the form's spare row) is dropped, not checked: its required columns are no error.
        if all(_is_blank(row.get(column.key)) for column in spec.columns):
            continue
        rows.append(_clean_fields(spec.columns, row, prefix=prefix, errors=errors))
    return rows


def _refuse_unknown(
    data: Mapping[str, Any], specs: Sequence[FieldSpec], *, prefix: str, errors: FieldErrors
) -> None:
    for key in sorted(set(data) - {spec.key for spec in specs}):
        errors.setdefault(prefix + str(key), []).append(_("この様式にない項目です"))


def _clean_fields(
    specs: Sequence[FieldSpec], data: Mapping[str, Any], *, prefix: str, errors: FieldErrors
) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for spec in specs:
        raw = data.get(spec.key)
        if isinstance(raw, str) and spec.type not in ("mj_text", "address", "signature"):
            raw = raw.strip()
        if spec.type == "person_list":
            value: Any = (
                _clean_list(spec, raw if raw is not None else [], errors) if not _is_empty(raw) else []
            )
            problem = None
        elif _is_empty(raw):
            value, problem = (False if spec.type == "checkbox" else ""), None
        else:
            value, problem = _clean_scalar(spec, raw)
        if problem is None and spec.required and _is_blank(value):
            problem = _("必須です")
        if problem is not None:
            errors.setdefault(prefix + spec.key, []).append(problem)
        cleaned[spec.key] = value if problem is None else raw
    return cleaned


def form_data_clean(
    specs: Sequence[FieldSpec], data: Mapping[str, Any]
) -> tuple[dict[str, Any], FieldErrors]:
    """The cleaned values of every field and the problems found, keyed by field (``idousha.0.kana`` for a
    column of a person list). No problems means the data may be printed and exported."""
    errors: FieldErrors = {}
    _refuse_unknown(data, specs, prefix="", errors=errors)
    return _clean_fields(specs, data, prefix="", errors=errors), errors
