"""Property tests of the MJ+ text library (hypothesis)."""

from hypothesis import given
from hypothesis import strategies as st

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
