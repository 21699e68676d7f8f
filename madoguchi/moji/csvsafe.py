"""CSV writing for RPA and the core system (domain.md §4): UTF-8 (optionally with BOM), CRLF, RFC 4180 quoting,
values byte-exact. A value a spreadsheet would run as a formula is refused, never silently altered."""

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class UnsafeCsvValue(ValueError):
    """A value that a spreadsheet would take for a formula."""


def check_cell(value: str, *, row: int, column: str) -> None:
    """Raise UnsafeCsvValue naming the row and column when ``value`` starts like a formula."""
    if value.startswith(FORMULA_PREFIXES):
        raise UnsafeCsvValue(
            f"row {row}, column {column}: the value starts with {value[:1]!r}, which a spreadsheet would run "
            "as a formula; correct the value"
        )


def write_csv(
    header: Sequence[str], rows: Iterable[Sequence[str]], *, bom: bool = False, check: bool = True
) -> bytes:
    """Encode ``rows`` under ``header`` as UTF-8 CSV with CRLF line ends. Every cell is checked (UnsafeCsvValue)
    unless ``check`` is False — only for a report that quotes what another file said, where refusing would lose
    the report."""
    return csv_file(header, [csv_lines(rows, header=header if check else None)], bom=bom)


def csv_lines(rows: Iterable[Sequence[str]], *, header: Sequence[str] | None = None) -> str:
    """``rows`` as CSV text (CRLF line ends, no header), to store and join into a file later with ``csv_file``.
    With a ``header`` every cell is checked first (UnsafeCsvValue naming the row and column)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    for number, row in enumerate(rows, start=1):
        if header is not None:
            for column, value in zip(header, row, strict=True):
                check_cell(value, row=number, column=column)
        writer.writerow(row)
    return buffer.getvalue()


def csv_field(value: str) -> str:
    """One cell as ``csv_lines`` writes it in a row of two or more cells (quoted when it holds a comma, a quote
    or a line break): to put a value into stored CSV text without encoding its row again."""
    if any(char in value for char in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_file(header: Sequence[str], chunks: Iterable[str], *, bom: bool = False) -> bytes:
    """A CSV file of ``header`` and the rows of ``chunks`` (each from ``csv_lines``), as UTF-8."""
    data = "".join((csv_lines([header]), *chunks)).encode("utf-8")
    return (b"\xef\xbb\xbf" + data) if bom else data
