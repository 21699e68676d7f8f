"""Property tests of the MJ+ text library (hypothesis)."""

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from madoguchi.moji.csvsafe import csv_field, csv_file, csv_lines, write_csv
from madoguchi.moji.itaiji import kanji_search_key
from madoguchi.moji.repertoire import Repertoire
from madoguchi.moji.text import DEFAULT_GJ_RANGE, TextProblem, mj_problems, mj_warnings, text_problems

# Any code point (surrogates included), with the interesting ones made likely.
ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(exclude_categories=()),
        st.sampled_from(
            "葛辻髙\U000e0100\U000e0102\ufe00\ufe0f\ufffd\ue000\n\u3000"
            "\U00100000\U00104e20\U0010fffd\U000f0000\uf9dc〜～−－々゛"
        ),
    )
)


@given(ANY_TEXT)
def test_mj_problems_never_raises_and_is_stricter_than_text_problems(mj: Repertoire, text: str) -> None:
    problems = mj_problems(text, repertoire=mj, gj_range=DEFAULT_GJ_RANGE)
    assert isinstance(problems, list) and all(isinstance(p, TextProblem) for p in problems)
    assert [p.index for p in problems] == sorted(p.index for p in problems)
    assert all(0 <= p.index < len(text) for p in problems)
    if text_problems(text):
        assert problems


@given(ANY_TEXT)
def test_mj_warnings_never_raises(text: str) -> None:
    assert all(isinstance(w, TextProblem) and 0 <= w.index < len(text) for w in mj_warnings(text))


@st.composite
def mj_text(draw: st.DrawFn, mj: Repertoire) -> str:
    characters = sorted(mj.characters)
    sequences = sorted(mj.sequences)
    units = draw(
        st.lists(
            st.one_of(
                st.sampled_from(characters).map(chr),
                st.sampled_from(sequences).map(lambda pair: chr(pair[0]) + chr(pair[1])),
            ),
            max_size=30,
        )
    )
    return "".join(units)


@given(st.data())
def test_text_of_repertoire_characters_and_sequences_is_accepted(mj: Repertoire, data: st.DataObject) -> None:
    text = data.draw(mj_text(mj))
    assert mj_problems(text, repertoire=mj, gj_range=DEFAULT_GJ_RANGE) == []


@given(ANY_TEXT)
def test_kanji_search_key_is_a_fixed_point(text: str) -> None:
    key = kanji_search_key(text)
    assert kanji_search_key(key) == key
    assert not any(c.isspace() for c in key)
    assert not any(0xFE00 <= ord(c) <= 0xFE0F or 0xE0100 <= ord(c) <= 0xE01EF for c in key)


CELLS = st.lists(st.lists(st.text(alphabet=st.sampled_from('a,"\r\n 葛\U000e0102髙𠮷'), max_size=6), min_size=2,
                          max_size=2), max_size=5)  # fmt: skip


@given(CELLS, CELLS, st.booleans())
def test_rows_encoded_apart_and_joined_are_the_file_written_at_once(
    first: list[list[str]], second: list[list[str]], bom: bool
) -> None:
    """The outbox stores each reception's rows encoded (csv_lines) and joins them into the file (csv_file): the
    bytes must be those of writing every row at once, quoting and line breaks included, and read back the same."""
    header = ["受付番号", "氏名"]
    joined = csv_file(header, [csv_lines(first), csv_lines(second)], bom=bom)
    assert joined == write_csv(header, first + second, bom=bom, check=False)
    text = joined.decode("utf-8-sig" if bom else "utf-8")
    assert list(csv.reader(io.StringIO(text, newline=""))) == [header, *first, *second]


@given(CELLS)
def test_a_cell_encoded_alone_is_the_cell_in_its_row(rows: list[list[str]]) -> None:
    for row in rows:
        assert ",".join(csv_field(value) for value in row) + "\r\n" == csv_lines([row])
