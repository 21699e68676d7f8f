"""Reading and validating a 住民記録 v1 full snapshot (domain.md §1). Pure: no database access here.

The whole file is validated before anything changes; a file with any problem is rejected whole.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

from madoguchi.moji.checkdigit import is_valid as check_digit_ok
from madoguchi.moji.text import text_problems

from .layouts import (
    CODE_COLUMNS,
    DATE_COLUMNS,
    JUKI_V1_COLUMNS,
    MJ_TEXT_COLUMNS,
    REQUIRED_COLUMNS,
    TEXT_FIELDS,
)

MAX_REPORTED_PROBLEMS = 100


@cache
def max_lengths() -> dict[str, int]:
    """Each text column's longest accepted value, in characters, from the model field it is stored in."""
    from .models import Household, Resident

    fields = {column: Resident._meta.get_field(name) for column, name in TEXT_FIELDS.items()}
    fields["宛名番号"] = Resident._meta.get_field("atena_no")
    fields["世帯番号"] = Household._meta.get_field("setai_no")
    return {column: length for column, f in fields.items() if (length := getattr(f, "max_length", None))}


@dataclass(frozen=True)
class FileProblem:
    """One reason a file is rejected. ``row`` counts lines of the file (the header is row 1); 0 = whole file."""

    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row else "file"
        return f"{where}, column {self.column}: {self.reason}" if self.column else f"{where}: {self.reason}"


@dataclass
class ResidentFileRejected(Exception):
    """The file named ``source`` failed validation; nothing was changed."""

    source: str
    problems: list[FileProblem]
    total: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        shown = "\n".join(f"  {p}" for p in self.problems[:20])
        more = f"\n  … {self.total - 20} more" if self.total > 20 else ""
        return f"{self.source}: rejected, {self.total} problem(s); nothing was changed\n{shown}{more}"


class _Problems:
    """Collects problems, keeping the first MAX_REPORTED_PROBLEMS and counting all."""

    def __init__(self) -> None:
        self.kept: list[FileProblem] = []
        self.total = 0

    def add(self, row: int, column: str, reason: str) -> None:
        self.total += 1
        if len(self.kept) < MAX_REPORTED_PROBLEMS:
            self.kept.append(FileProblem(row, column, reason))


def decode_file(data: bytes, *, source: str) -> str:
    """Decode UTF-8 (a BOM is allowed and dropped). Anything else is rejected, naming the byte and line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ResidentFileRejected(
            source,
            [
                FileProblem(
                    line,
                    "",
                    f"not UTF-8: byte 0x{data[exc.start]:02X} at offset {exc.start} "
                    "(the file must be UTF-8; Shift_JIS cannot carry MJ+ characters)",
                )
            ],
            total=1,
        ) from exc


def parse_date(value: str) -> dt.date:
    """A canonical-layout date: exactly ``YYYY-MM-DD``."""
    if len(value) != 10:
        raise ValueError
    return dt.date.fromisoformat(value)


def parse_snapshot(data: bytes, *, source: str) -> list[dict[str, str]]:
    """Validate a full snapshot and return its rows as dicts keyed by canonical column names.

    Raises ResidentFileRejected naming the file and every problem (row, column, reason) when anything is wrong.
    """
    text = decode_file(data, source=source)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    problems = _Problems()
    try:
        header = next(reader)
    except StopIteration:
        raise ResidentFileRejected(source, [FileProblem(0, "", "the file is empty")], total=1) from None
    except csv.Error as exc:
        raise ResidentFileRejected(
            source, [FileProblem(1, "", f"broken CSV header: {exc}")], total=1
        ) from exc

    missing = [c for c in JUKI_V1_COLUMNS if c not in header]
    unknown = [c for c in header if c not in JUKI_V1_COLUMNS]
    doubled = sorted({c for c in header if header.count(c) > 1})
    for column in missing:
        problems.add(1, column, "required column is missing from the header")
    for column in unknown:
        problems.add(1, column, "unknown column (the 住民記録 v1 layout does not have it)")
    for column in doubled:
        problems.add(1, column, "column appears more than once in the header")
    if problems.total:
        raise ResidentFileRejected(source, problems.kept, total=problems.total)

    rows: list[dict[str, str]] = []
    seen_atena: dict[str, int] = {}
    try:
        for line_no, cells in _numbered(reader):
            if len(cells) != len(header):
                problems.add(line_no, "", f"{len(cells)} fields where the header has {len(header)}")
                continue
            row = dict(zip(header, cells, strict=True))
            _check_row(row, line_no, problems)
            atena = row["宛名番号"]
            if atena in seen_atena:
                problems.add(
                    line_no, "宛名番号", f"duplicate 宛名番号 (first seen in row {seen_atena[atena]})"
                )
            else:
                seen_atena[atena] = line_no
            rows.append(row)
    except csv.Error as exc:
        problems.add(reader.line_num, "", f"broken CSV: {exc}")
    if problems.total:
        raise ResidentFileRejected(source, problems.kept, total=problems.total)
    return rows


def _numbered(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    line = 1
    for cells in reader:
        line += 1
        if cells:
            yield line, cells


def _check_row(row: dict[str, str], line_no: int, problems: _Problems) -> None:
    for column, length in max_lengths().items():
        if len(row[column]) > length:
            problems.add(line_no, column, f"{len(row[column])} characters; at most {length} are accepted")
    for column in REQUIRED_COLUMNS:
        if not row[column]:
            problems.add(line_no, column, "required value is empty")
    for column in ("宛名番号", "世帯番号"):
        value = row[column]
        if value and not check_digit_ok(value):
            problems.add(line_no, column, f"{value} fails the M11W2-7 check digit")
    for column, allowed in CODE_COLUMNS.items():
        value = row[column]
        if value and value not in allowed:
            problems.add(line_no, column, f"code {value!r} is not one of {', '.join(sorted(allowed))}")
    for column in DATE_COLUMNS:
        value = row[column]
        if value:
            try:
                parse_date(value)
            except ValueError:
                problems.add(line_no, column, f"{value!r} is not a date YYYY-MM-DD")
    for column in MJ_TEXT_COLUMNS:
        for problem in text_problems(row[column]):
            problems.add(line_no, column, f"character {problem.index + 1}: {problem.reason}")
