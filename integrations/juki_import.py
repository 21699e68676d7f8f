"""Reading and validating 住民記録 v1 files (domain.md §1), streaming: one row at a time, never the whole file.

``JukiReader`` turns a byte stream into canonical rows, through a vendor column mapping if one is given, and
collects every problem (row, column, reason; the first MAX_REPORTED_PROBLEMS kept, all counted). It touches no
database. Callers decide what a problem means: the importers reject the whole file if there is any.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from operator import contains, gt, itemgetter
from typing import IO, Any

from madoguchi.moji.checkdigit import is_valid as check_digit_ok
from madoguchi.moji.text import mj_problems

from .layouts import (
    CODE_COLUMNS,
    DATE_COLUMNS,
    JUKI_V1_COLUMNS,
    JUKI_V1_DIFF_COLUMNS,
    MJ_TEXT_COLUMNS,
    REQUIRED_COLUMNS,
    TEXT_FIELDS,
)

MAX_REPORTED_PROBLEMS = 1000
_MJ_VALUES = itemgetter(*sorted(MJ_TEXT_COLUMNS))
DIFF_CODES = {"1": "追加", "2": "変更", "3": "消除"}
FULL_WIDTH_SPACE = "\u3000"


@cache
def max_lengths() -> dict[str, int]:
    """Each text column's longest accepted value, in characters, from the model field it is stored in."""
    from .models import Resident

    fields = {column: Resident._meta.get_field(name) for column, name in TEXT_FIELDS.items()}
    fields["宛名番号"] = Resident._meta.get_field("atena_no")
    fields["世帯番号"] = Resident._meta.get_field("setai_no")
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

    def __str__(self) -> str:
        shown = "\n".join(f"  {p}" for p in self.problems[:20])
        more = f"\n  … {self.total - 20} more" if self.total > 20 else ""
        return f"{self.source}: rejected, {self.total} problem(s); nothing was changed\n{shown}{more}"


@dataclass
class Problems:
    """Collects problems, keeping the first MAX_REPORTED_PROBLEMS and counting all."""

    kept: list[FileProblem] = field(default_factory=list)
    total: int = 0

    def add(self, row: int, column: str, reason: str) -> None:
        self.total += 1
        if len(self.kept) < MAX_REPORTED_PROBLEMS:
            self.kept.append(FileProblem(row, column, reason))

    def rejection(self, source: str) -> ResidentFileRejected:
        return ResidentFileRejected(source, self.kept, total=self.total)


@dataclass(frozen=True)
class MappingSpec:
    """A vendor layout as plain data (from integrations.models.ColumnMapping): see its docstring."""

    name: str
    columns: Mapping[str, str]
    splits: Mapping[str, Sequence[str]]


# --- Record digests --------------------------------------------------------------------------------------------
# Each stored resident keeps the digest of the file record it came from, keyed by everything that decided how the
# record was read, checked and stored (rules_fingerprint). A later snapshot's record with the same digest is the
# same bytes, read under the same rules: it was validated and stored exactly so before, and it is left as it is
# (integrations.mirror.SnapshotMerge). Any change of a rule changes every digest, so every record is read again.

RULES_VERSION = "1"
"""Bump whenever the checks, the stored values or the search keys change in code (settings and data files are
fingerprinted on their own)."""


@cache
def _file_sha256(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def rules_fingerprint(*, header: bytes, diff: bool, mapping: MappingSpec | None) -> bytes:
    """What decides how a record of a file with this ``header`` line (without BOM and line end) is read, checked
    and stored: the code's rules version, the check-digit and GJ settings, the MJ repertoire and 異体字 table as
    generated, the field lengths, the column mapping and the header itself."""
    from django.conf import settings

    from madoguchi.moji.itaiji import TABLE_PATH
    from madoguchi.moji.repertoire import DEFAULT_PATH

    parts = {
        "rules": RULES_VERSION,
        "unicode": unicodedata.unidata_version,  # NFKC and character categories in the checks and search keys
        "check_digit_ten": settings.MADOGUCHI_CHECK_DIGIT_TEN,
        "gj_range": list(settings.MADOGUCHI_GJ_RANGE),
        "repertoire": _file_sha256(str(DEFAULT_PATH)),
        "itaiji": _file_sha256(str(TABLE_PATH)),
        "lengths": sorted(max_lengths().items()),
        "mapping": None if mapping is None else [mapping.name, dict(mapping.columns), dict(mapping.splits)],
        "diff": diff,
        "header": header.hex(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).digest()


class RecordDigest:
    """``digest(raw)``: 16 bytes (BLAKE2b) of one record's raw bytes, without its line end, under a fingerprint."""

    def __init__(self, fingerprint: bytes) -> None:
        self._base = hashlib.blake2b(fingerprint, digest_size=16)

    def __call__(self, raw: bytes) -> bytes:
        state = self._base.copy()
        state.update(raw)
        return state.digest()


def header_bytes(raw: bytes) -> bytes:
    """A header line as it is fingerprinted: without a BOM and without its line end."""
    return raw.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n")


def parse_date(value: str) -> dt.date:
    """A canonical-layout date: exactly ``YYYY-MM-DD``."""
    if len(value) != 10:
        raise ValueError
    return dt.date.fromisoformat(value)


def _header_plan(
    header: list[str], *, diff: bool, mapping: MappingSpec | None, problems: Problems
) -> list[tuple[int, tuple[str, ...]]]:
    """For each file column worth reading: (index, canonical columns it fills). Records header problems."""
    expected = JUKI_V1_DIFF_COLUMNS if diff else JUKI_V1_COLUMNS
    plan: list[tuple[int, tuple[str, ...]]] = []
    for index, name in enumerate(header):
        if mapping and name in mapping.splits:
            plan.append((index, tuple(mapping.splits[name])))
        elif mapping and name in mapping.columns:
            if mapping.columns[name]:
                plan.append((index, (mapping.columns[name],)))
        elif name in expected:
            plan.append((index, (name,)))
        else:
            hint = f" and mapping {mapping.name} does not list it" if mapping else ""
            problems.add(1, name, f"unknown column (not in the 住民記録 v1 layout{hint})")
    filled = [column for _, columns in plan for column in columns]
    for column in expected:
        if column not in filled:
            problems.add(1, column, "required column is missing from the header")
    for column in sorted({c for c in filled if filled.count(c) > 1}):
        problems.add(1, column, "column appears more than once in the header")
    return plan


class _NotUtf8(Exception):
    def __init__(self, line: int, byte: int) -> None:
        self.line, self.byte = line, byte


class JukiReader:
    """Streams canonical rows out of a 住民記録 v1 file (full snapshot, or difference with 処理区分 first).

    Iterate over it for ``(row number, row dict)`` of the rows that passed their checks; afterwards
    ``problems`` holds every problem found, file-level ones included. Duplicate 宛名番号 across the file are
    not checked here (that needs the whole file): the importers check them in the database.
    """

    def __init__(
        self,
        stream: Iterable[bytes],
        *,
        source: str,
        diff: bool = False,
        mapping: MappingSpec | None = None,
        one_line_records: bool = False,
    ) -> None:
        """``one_line_records``: reading a merge's changed lines, which stand for themselves only if each is a whole
        record; a record running over several lines raises NotMergeable (the full reader then reads the file)."""
        self.stream = stream
        self.one_line_records = one_line_records
        self.source = source
        self.diff = diff
        self.mapping = mapping
        self.problems = Problems()
        self._last_line = b"\n"
        self._raw: list[bytes] = []  # the raw lines of the record being read

    def rejection(self) -> ResidentFileRejected:
        """The rejection of this file, naming it, with every problem found."""
        return self.problems.rejection(self.source)

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        for line, row, _digest in self.records():
            yield line, row

    def records(self) -> Iterator[tuple[int, dict[str, str], bytes]]:
        """``(row number, row, digest)`` of each row that passed its checks; the digest is RecordDigest's of the
        record's raw bytes under this file's rules_fingerprint."""
        reader = csv.reader(self._decoded_lines(), strict=True)
        try:
            header = next(reader, None)
            if header is None:
                self.problems.add(0, "", "the file is empty")
                return
            digest = RecordDigest(
                rules_fingerprint(
                    header=header_bytes(b"".join(self._raw)), diff=self.diff, mapping=self.mapping
                )
            )
            self._raw.clear()
            plan = _header_plan(header, diff=self.diff, mapping=self.mapping, problems=self.problems)
            if self.problems.total:
                return
            yield from self._rows(reader, plan, len(header), digest)
        except _NotUtf8 as bad:
            self.problems.add(
                bad.line, "",
                f"not UTF-8 (byte 0x{bad.byte:02X}); the file must be UTF-8: Shift_JIS cannot carry MJ+ characters",
            )  # fmt: skip
            return
        except csv.Error as exc:
            self.problems.add(reader.line_num, "", f"broken CSV: {exc} (truncated file?)")
        if not self._last_line.endswith(b"\n"):
            self.problems.add(
                reader.line_num, "", "the last line has no line break: the file looks truncated"
            )

    def _decoded_lines(self) -> Iterator[str]:
        """The file's lines as text, decoded one by one so a bad byte is reported on its own line."""
        for number, raw in enumerate(self.stream, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _NotUtf8(number, raw[exc.start]) from exc
            self._last_line = raw
            self._raw.append(raw)
            yield text[1:] if number == 1 and text.startswith("\ufeff") else text

    def _rows(
        self, reader: Any, plan: list[tuple[int, tuple[str, ...]]], width: int, digest: RecordDigest
    ) -> Iterator[tuple[int, dict[str, str], bytes]]:
        problems = self.problems
        pending = self._raw
        # The usual case, the canonical layout: each cell is its own column, in order.
        direct = [columns[0] for index, columns in plan] if _is_direct(plan, width) else None
        for cells in reader:
            line = reader.line_num
            if len(pending) != 1 and self.one_line_records:
                raise NotMergeable("a record runs over more than one line")
            raw = pending[0] if len(pending) == 1 else b"".join(pending)
            pending.clear()
            if not cells:
                continue
            if len(cells) != width:
                problems.add(line, "", f"{len(cells)} fields where the header has {width}")
                continue
            if direct is not None:
                row = dict(zip(direct, cells, strict=True))
            else:
                row = {}
                for index, columns in plan:
                    value = cells[index]
                    if len(columns) == 1:
                        row[columns[0]] = value
                    else:
                        first, _, rest = value.partition(FULL_WIDTH_SPACE)
                        row[columns[0]], row[columns[1]] = first, rest
            before = problems.total
            check_row(row, line, problems, diff=self.diff)
            if problems.total == before:
                yield line, row, digest(raw.rstrip(b"\r\n"))


def _is_direct(plan: list[tuple[int, tuple[str, ...]]], width: int) -> bool:
    return len(plan) == width and all(i == index and len(c) == 1 for i, (index, c) in enumerate(plan))


@cache
def _fast_checks() -> tuple[Any, tuple[int, ...], Any, Any, tuple[frozenset[str], ...]]:
    """Getters and limits that check a whole row's lengths, required values and codes at C speed."""
    lengths = max_lengths()
    return (
        itemgetter(*lengths), tuple(lengths.values()), itemgetter(*sorted(REQUIRED_COLUMNS)),
        itemgetter(*CODE_COLUMNS), tuple(allowed | {""} for allowed in CODE_COLUMNS.values()),
    )  # fmt: skip


def check_row(row: dict[str, str], line: int, problems: Problems, *, diff: bool = False) -> None:
    """Record every problem of one canonical row."""
    kubun = row.get("処理区分", "1")
    if diff and kubun not in DIFF_CODES:
        problems.add(line, "処理区分", f"code {kubun!r} is not one of 1 (追加), 2 (変更), 3 (消除)")
        return
    for column in ("宛名番号", "世帯番号"):
        value = row[column]
        if value and not check_digit_ok(value):
            problems.add(line, column, f"{value} fails the M11W2-7 check digit")
    if kubun == "3":
        if not row["宛名番号"]:
            problems.add(line, "宛名番号", "required value is empty")
        return  # a deletion needs only the person's number
    lengths_of, limits, required_of, codes_of, allowed = _fast_checks()
    if (
        not all(required_of(row))
        or any(map(gt, map(len, lengths_of(row)), limits))
        or not all(map(contains, allowed, codes_of(row)))
    ):
        _check_row_details(row, line, problems)
    for column in DATE_COLUMNS:
        value = row[column]
        if value:
            try:
                parse_date(value)
            except ValueError:
                problems.add(line, column, f"{value!r} is not a date YYYY-MM-DD")
    stamp = row["更新日時"]
    if stamp:
        try:
            dt.datetime.fromisoformat(stamp)
        except ValueError:
            problems.add(line, "更新日時", f"{stamp!r} is not an ISO 8601 timestamp")
    # All MJ text of the row in one check; only a row with a problem is checked column by column. The
    # separator is itself an MJ character, so it can neither hide nor cause a problem (a leading selector
    # would follow it and be caught as a pair that is not in the repertoire).
    if mj_problems(",".join(_MJ_VALUES(row))):
        for column in MJ_TEXT_COLUMNS:
            for problem in mj_problems(row[column]):
                problems.add(line, column, f"character {problem.index + 1}: {problem.reason}")


def _check_row_details(row: dict[str, str], line: int, problems: Problems) -> None:
    for column in sorted(REQUIRED_COLUMNS):
        if not row[column]:
            problems.add(line, column, "required value is empty")
    for column, allowed in CODE_COLUMNS.items():
        value = row[column]
        if value and value not in allowed:
            problems.add(line, column, f"code {value!r} is not one of {', '.join(sorted(allowed))}")
    for column, length in max_lengths().items():
        if len(row[column]) > length:
            problems.add(line, column, f"{len(row[column])} characters; at most {length} are accepted")


def parse_snapshot(data: bytes, *, source: str, mapping: MappingSpec | None = None) -> list[dict[str, str]]:
    """Validate a whole full snapshot held in memory and return its rows (small files, tests, benchmarks).

    Raises ResidentFileRejected naming the file and every problem; duplicates included.
    """
    reader = JukiReader(io.BytesIO(data), source=source, mapping=mapping)
    rows: list[dict[str, str]] = []
    first_seen: dict[str, int] = {}
    for line, row in reader:
        atena = row["宛名番号"]
        if atena in first_seen:
            reader.problems.add(
                line, "宛名番号", f"duplicate 宛名番号 (first seen in row {first_seen[atena]})"
            )
        else:
            first_seen[atena] = line
        rows.append(row)
    if reader.problems.total:
        raise reader.rejection()
    return rows


# --- Reading a snapshot as a merge (integrations.mirror.SnapshotMerge) -------------------------------------------

SCAN_CHUNK_BYTES = 4 << 20


class NotMergeable(Exception):
    """The file cannot be applied as a merge; the full import reads it instead (and reports what is wrong with it,
    if anything is). The message says why, without personal data."""


def _header_checked(raw: bytes, *, mapping: MappingSpec | None) -> bytes:
    """The header line fingerprinted, once it is known to be a good header; NotMergeable otherwise."""
    header = header_bytes(raw)
    try:
        names = next(csv.reader([header.decode("utf-8")], strict=True))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        raise NotMergeable("the header is not a CSV line in UTF-8") from None
    problems = Problems()
    _header_plan(names, diff=False, mapping=mapping, problems=problems)
    if problems.total:
        raise NotMergeable("the header does not match the layout")
    return header


def snapshot_line_digests(
    stream: IO[bytes], *, mapping: MappingSpec | None
) -> Iterator[tuple[int, list[bytes]]]:
    """Pass 1 of a merge: for each chunk of the file, the number of its first line and the RecordDigest of each of
    its lines, in order (the header is line 1 and is not among them). Nothing is decoded or parsed: a line is only
    hashed. Raises NotMergeable for a file whose lines are not one record each (a quoted line break), whose last
    line has no line break, or whose header is not the layout's: the full reader judges those."""
    carry = b""
    digest: RecordDigest | None = None
    number = 2
    while chunk := stream.read(SCAN_CHUNK_BYTES):
        buffer = carry + chunk
        lines = buffer.split(b"\n")
        carry = lines.pop()
        if digest is None:
            if not lines:
                continue  # the header is longer than a chunk so far
            header = _header_checked(lines.pop(0), mapping=mapping)
            digest = RecordDigest(rules_fingerprint(header=header, diff=False, mapping=mapping))
        if b'"' in buffer and any(line.count(b'"') & 1 for line in lines):
            raise NotMergeable("a line holds an odd number of quote characters (a quoted line break?)")
        if lines:
            yield number, [digest(line.rstrip(b"\r")) for line in lines]
            number += len(lines)
    if digest is None:
        raise NotMergeable("the file is empty or has no complete header line")
    if carry:
        raise NotMergeable("the last line has no line break")


def snapshot_lines(stream: IO[bytes], numbers: Iterator[int]) -> Iterator[bytes]:
    """Pass 2 of a merge: the header line, then the lines ``numbers`` names (ascending), each with its line end, as
    JukiReader reads a file."""
    header_done = False
    number = 2
    wanted = next(numbers, None)
    carry = b""
    while chunk := stream.read(SCAN_CHUNK_BYTES):
        lines = (carry + chunk).split(b"\n")
        carry = lines.pop()
        if not header_done:
            if not lines:
                continue
            yield lines.pop(0) + b"\n"
            header_done = True
        end = number + len(lines)
        while wanted is not None and wanted < end:
            if wanted < number:
                raise ValueError(f"line numbers must ascend from 2; got {wanted} after line {number - 1}")
            yield lines[wanted - number] + b"\n"
            wanted = next(numbers, None)
        number = end
