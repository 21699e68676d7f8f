"""Property tests: whatever bytes arrive, the reader gives rows or clean problems, never an exception."""

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.juki_import import JukiReader
from integrations.layouts import JUKI_V1_COLUMNS
from tests.factories import juki_csv, juki_row

HEADER = ",".join(JUKI_V1_COLUMNS).encode() + b"\r\n"
GOOD = juki_csv([juki_row(1)])


def _read(data: bytes, *, diff: bool = False) -> None:
    reader = JukiReader(io.BytesIO(data), source="fuzz.csv", diff=diff)
    rows = list(reader)
    assert all(isinstance(line, int) and isinstance(row, dict) for line, row in rows)
    for problem in reader.problems.kept:
        assert isinstance(problem.reason, str) and problem.reason
    if reader.problems.total == 0:
        assert data.strip(), "an empty file is a problem"


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes(data: bytes) -> None:
    _read(data)
    _read(data, diff=True)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_after_a_valid_header(data: bytes) -> None:
    _read(HEADER + data)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(GOOD)), st.binary(max_size=8))
def test_a_valid_file_damaged_anywhere(position: int, garbage: bytes) -> None:
    _read(GOOD[:position] + garbage + GOOD[position:])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_in_a_name(name: str) -> None:
    _read(juki_csv([juki_row(1, 氏=name)]))
