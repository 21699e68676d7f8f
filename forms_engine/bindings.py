"""Prefill bindings and value expressions: dotted paths over the documented form context, with a few filters.

A binding is what a form admin writes to say where a value comes from, e.g. ``resident.shimei``,
``resident.birth_date|wareki``, ``household|join('、', 'shimei')`` or ``fields.idousha.0.kana``. It is not a
template language: only the roots and keys listed in ``CONTEXT_SCHEMA`` can be reached, through plain dicts and
lists, so a binding can never touch an object, a setting or the database. docs/forms.md documents the context.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from madoguchi.moji.kana import hiragana_to_katakana
from madoguchi.moji.wareki import format_wareki

# The keys of one person (resident, each household member): counters.selectors.person_context.
PERSON_KEYS = frozenset(
    {
        "atena_no",
        "setai_no",
        "shi",
        "mei",
        "shimei",
        "shi_kana",
        "mei_kana",
        "kana",
        "eiji_shimei",
        "birth_date",
        "sex",
        "zokugara",
        "setainushi_shimei",
        "postal_code",
        "address",
        "katagaki",
        "honseki",
        "hittousha",
        "previous_address",
        "foreign",
    }
)
CARD_KEYS = frozenset({"kind", "shimei", "kana", "birth_date", "sex", "postal_code", "address"})
SESSION_KEYS = frozenset({"reception_no", "event", "counter", "counter_name", "clerk"})
# The procedures of the visit (手続案内書, R-C6): each one a department's procedure still to do.
PROCEDURE_KEYS = frozenset({"name", "department", "counter", "bring", "note"})

# root → the keys below it (None: any key, e.g. interview answers); "person" / "persons" / "date" are shapes.
CONTEXT_SCHEMA: dict[str, frozenset[str] | str | None] = {
    "resident": "person",
    "household": "persons",
    "card": CARD_KEYS,
    "answers": None,
    "session": SESSION_KEYS,
    "procedures": "procedures",
    "city": frozenset({"name"}),
    "today": "date",
    "fields": "fields",
}
CONTEXT_ROOTS = frozenset(CONTEXT_SCHEMA)

_SEGMENT = r"(?:[A-Za-z_][A-Za-z0-9_]*|\d+)"
_PATH = re.compile(rf"[A-Za-z_][A-Za-z0-9_]*(?:\.{_SEGMENT})*")
_ARG = re.compile(r"\s*(?:'([^']*)'|\"([^\"]*)\"|(-?\d+))\s*")
_FILTER = re.compile(r"\s*([a-z_]+)\s*(?:\((.*)\))?\s*")


class BindingInvalid(ValueError):
    """A binding that cannot be read or reaches outside the documented context; the message says where."""


@dataclass(frozen=True)
class Filter:
    name: str
    args: tuple[str | int, ...] = ()


@dataclass(frozen=True)
class Binding:
    """A parsed binding: a path (root first) and its filters, applied left to right."""

    text: str
    path: tuple[str, ...]
    filters: tuple[Filter, ...]
    literal: str | None = None  # a quoted text instead of a path: a fixed starting value such as '1'

    @property
    def root(self) -> str:
        return self.path[0] if self.path else ""


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and value:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _text(value: Any) -> str:
    """How a value reads as text: empty for nothing, ISO for dates, the text of a text or number. Anything else
    (a list, a mapping, an object) reads as empty: its repr would show what the binding cannot reach."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str | int | float | Decimal):
        return str(value)
    return ""


def filter_wareki(value: Any) -> str:
    """和暦: ``昭和55年1月1日``; empty when the value is no date, ISO when it is before 明治."""
    day = _as_date(value)
    if day is None:
        return ""
    try:
        return format_wareki(day)
    except ValueError:
        return day.isoformat()


def filter_age(value: Any, on: Any = None) -> int | str:
    """Age in full years on ``on`` (default today); empty when the value is no date."""
    born = _as_date(value)
    if born is None:
        return ""
    day = _as_date(on) or dt.date.today()
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def filter_join(value: Any, separator: str = "、", attribute: str = "") -> str:
    """The items of a list joined by ``separator``; with ``attribute``, that key of each item."""
    if not isinstance(value, list | tuple):
        return _text(value)
    items = [item.get(attribute) if attribute and isinstance(item, Mapping) else item for item in value]
    return separator.join(_text(item) for item in items if _text(item))


def filter_katakana(value: Any) -> str:
    return hiragana_to_katakana(_text(value))


def filter_iso(value: Any) -> str:
    day = _as_date(value)
    return day.isoformat() if day is not None else _text(value)


def filter_default(value: Any, fallback: str = "") -> Any:
    # ``value in (…, False)`` would also replace 0 (0 == False), e.g. the age of a baby.
    # A template's undefined value is falsy without being None; a number is never "missing".
    missing = value is None or value is False or (not value and not isinstance(value, int | float))
    return fallback if missing else value


def filter_postal(value: Any) -> str:
    """A 7-digit 郵便番号 written with its hyphen: ``7600001`` → ``760-0001``; anything else unchanged."""
    text = _text(value)
    return f"{text[:3]}-{text[3:]}" if len(text) == 7 and text.isascii() and text.isdigit() else text


def filter_count(value: Any) -> int:
    """How many items a list has (0 for anything else)."""
    return len(value) if isinstance(value, list | tuple) else 0


def filter_eq(value: Any, other: Any = "") -> bool:
    """True when the value reads as ``other``: ticks one box of several for a choice on an overlay form."""
    return _text(value) == _text(other)


def _people_aged(value: Any, keep: Callable[[int], bool], on: Any) -> list[Any]:
    if not isinstance(value, list | tuple):
        return []
    kept = []
    for person in value:
        age = filter_age(person.get("birth_date") if isinstance(person, Mapping) else None, on)
        if isinstance(age, int) and keep(age):
            kept.append(person)
    return kept


def filter_age_under(value: Any, years: int = 15, on: Any = None) -> list[Any]:
    """The people of a list younger than ``years`` on ``on`` (the context's today), e.g. the children for
    児童手当: ``household|age_under(15)``."""
    return _people_aged(value, lambda age: age < int(years), on)


def filter_age_at_least(value: Any, years: int = 65, on: Any = None) -> list[Any]:
    """The people of a list aged ``years`` or more, e.g. ``household|age_at_least(75)`` for 後期高齢者医療."""
    return _people_aged(value, lambda age: age >= int(years), on)


# Filter name → (function, maximum number of arguments). Bindings use the same functions as flow templates.
FILTERS: dict[str, tuple[Callable[..., Any], int]] = {
    "wareki": (filter_wareki, 0),
    "age": (filter_age, 1),
    "age_under": (filter_age_under, 2),
    "age_at_least": (filter_age_at_least, 2),
    "join": (filter_join, 2),
    "katakana": (filter_katakana, 0),
    "iso": (filter_iso, 0),
    "postal": (filter_postal, 0),
    "count": (filter_count, 0),
    "eq": (filter_eq, 1),
    "default": (filter_default, 1),
}
# Filters whose last argument is the day ages are counted on; a binding gets the context's today.
AGE_FILTERS = frozenset({"age", "age_under", "age_at_least"})


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside quotes (``|`` between filters, ``,`` between arguments)."""
    parts, current, quote = [], "", ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == separator:
            parts.append(current)
            current = ""
            continue
        current += char
    if quote:
        raise BindingInvalid(f"{text!r}: a quote is not closed")
    return [*parts, current]


def _parse_args(text: str, where: str) -> tuple[str | int, ...]:
    args: list[str | int] = []
    for piece in _split_outside_quotes(text, ",") if text.strip() else []:
        match = _ARG.fullmatch(piece)
        if match is None:
            raise BindingInvalid(
                f"{where}: argument {piece.strip()!r} must be a quoted text or a whole number"
            )
        single, double, number = match.groups()
        args.append(int(number) if number is not None else (single if single is not None else double))
    return tuple(args)


@functools.lru_cache(maxsize=4096)
def binding_parse(text: str) -> Binding:
    """Parse ``text``; BindingInvalid names the problem. Does not check the path against the context."""
    path_text, *filter_texts = _split_outside_quotes(text.strip(), "|")
    path_text = path_text.strip()
    literal = _ARG.fullmatch(path_text) if path_text[:1] in ("'", '"') else None
    if literal is None and not _PATH.fullmatch(path_text):
        raise BindingInvalid(f"{text!r}: {path_text!r} is not a dotted path such as resident.shimei")
    filters = []
    for piece in filter_texts:
        match = _FILTER.fullmatch(piece)
        if match is None:
            raise BindingInvalid(f"{text!r}: {piece.strip()!r} is not a filter such as wareki or join('、')")
        name, arg_text = match.group(1), match.group(2) or ""
        if name not in FILTERS:
            raise BindingInvalid(f"{text!r}: unknown filter {name!r} (filters: {', '.join(sorted(FILTERS))})")
        args = _parse_args(arg_text, f"{text!r}: filter {name}")
        if len(args) > FILTERS[name][1]:
            raise BindingInvalid(f"{text!r}: filter {name} takes at most {FILTERS[name][1]} argument(s)")
        filters.append(Filter(name, args))
    if literal is not None:
        text_value = literal.group(1) if literal.group(1) is not None else literal.group(2)
        return Binding(text=text, path=(), filters=tuple(filters), literal=text_value)
    return Binding(text=text, path=tuple(path_text.split(".")), filters=tuple(filters))


def _check_person(path: Sequence[str], text: str) -> None:
    if path and path[0] not in PERSON_KEYS:
        raise BindingInvalid(
            f"{text!r}: a person has no {path[0]!r} (keys: {', '.join(sorted(PERSON_KEYS))})"
        )
    if len(path) > 1:
        raise BindingInvalid(f"{text!r}: {path[0]!r} has no parts")


def binding_check(text: str, *, fields: Mapping[str, Collection[str]]) -> Binding:
    """Parse ``text`` and check its path against the documented context. ``fields`` maps each field key of the
    version to its column keys (empty for plain fields), for ``fields.…`` paths."""
    binding = binding_parse(text)
    if binding.literal is not None:
        return binding
    root, rest = binding.root, binding.path[1:]
    shape = CONTEXT_SCHEMA.get(root, "unknown")
    if shape == "unknown":
        raise BindingInvalid(
            f"{text!r}: unknown name {root!r} (a form can use: {', '.join(sorted(CONTEXT_ROOTS))})"
        )
    if shape == "person":
        _check_person(rest, text)
    elif shape == "procedures":
        if rest and (
            not rest[0].isdigit() or len(rest) > 2 or (len(rest) == 2 and rest[1] not in PROCEDURE_KEYS)
        ):
            raise BindingInvalid(
                f"{text!r}: a procedure is read as procedures.0.name ({', '.join(sorted(PROCEDURE_KEYS))})"
            )
    elif shape in ("persons", "fields"):
        if shape == "fields":
            if not rest:
                raise BindingInvalid(f"{text!r}: name a field, e.g. fields.{next(iter(fields), 'shimei')}")
            if rest[0] not in fields:
                raise BindingInvalid(f"{text!r}: the form has no field {rest[0]!r}")
            field, columns, rest = rest[0], fields[rest[0]], rest[1:]
            if rest and not columns:
                raise BindingInvalid(f"{text!r}: the field {field!r} is no list and has no parts")
        if rest:
            if not rest[0].isdigit():
                raise BindingInvalid(f"{text!r}: after a list comes a row number, e.g. .0")
            if shape == "persons":
                _check_person(rest[1:], text)
            elif len(rest) > 1 and rest[1] not in columns:
                raise BindingInvalid(f"{text!r}: the list has no column {rest[1]!r}")
            elif len(rest) > 2:
                raise BindingInvalid(f"{text!r}: the column {rest[1]!r} has no parts")
    elif shape == "date":
        if rest:
            raise BindingInvalid(f"{text!r}: {root} has no parts")
    elif isinstance(shape, frozenset) and (not rest or rest[0] not in shape or len(rest) > 1):
        raise BindingInvalid(f"{text!r}: {root} has the keys {', '.join(sorted(shape))}")
    return binding


def _step(value: Any, segment: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(segment)
    if isinstance(value, list | tuple) and segment.isdigit():
        index = int(segment)
        return value[index] if index < len(value) else None
    return None


def binding_value(binding: Binding, context: Mapping[str, Any]) -> Any:
    """The value ``binding`` reads from ``context`` (plain dicts and lists), filters applied; None when absent."""
    value: Any = binding.literal if binding.literal is not None else context
    for segment in binding.path:
        value = _step(value, segment)
        if value is None:
            break
    for item in binding.filters:
        function, most = FILTERS[item.name]
        args: tuple[Any, ...] = item.args
        if item.name in AGE_FILTERS:
            args = with_today(args, most, context.get("today"))
        value = function(value, *args)
    return value


def with_today(args: tuple[Any, ...], most: int, today: Any) -> tuple[Any, ...]:
    """An age filter's arguments with the day ages are counted on — the context's ``today`` — unless given."""
    return (*args, today) if len(args) < most else args


def binding_text(binding: Binding, context: Mapping[str, Any]) -> str:
    """The value as text, for CSV columns and overlay fields: dates ISO, booleans 1/0, nothing empty."""
    return _text(binding_value(binding, context))
