import pytest
from pytest_django.fixtures import Settings

from madoguchi.moji.repertoire import Repertoire
from madoguchi.moji.text import DEFAULT_GJ_RANGE, mj_problems, mj_warnings, text_problems

GJ_FIRST, GJ_LAST = DEFAULT_GJ_RANGE


def reasons(text: str, mj: Repertoire, *, allow_newlines: bool = False) -> list[str]:
    problems = mj_problems(text, repertoire=mj, gj_range=DEFAULT_GJ_RANGE, allow_newlines=allow_newlines)
    return [problem.reason for problem in problems]


class TestMjProblems:
    @pytest.mark.parametrize(
        "text",
        [
            "",
            "山田　太郎",
            "葛\U000e0102西",  # Moji_Joho IVS
            "葛\U000e0108",
            "辻\U000e0103本",
            "𠮷田",
            "髙橋",
            "山\ufa11",  # 﨑, a unified ideograph in the compatibility block
            "\uf9dc之",  # a compatibility ideograph: allowed (with a warning)
            "窓口市宮前二丁目13番1号　メゾン窓口101",
            "〜～−－",
            "A-1 (abc)",
        ],
    )
    def test_accepts_mj_text(self, text: str, mj: Repertoire) -> None:
        assert mj_problems(text, repertoire=mj, gj_range=DEFAULT_GJ_RANGE) == []

    def test_adobe_japan1_sequence_is_rejected_naming_the_pair(self, mj: Repertoire) -> None:
        problems = mj_problems("葛\U000e0100西", repertoire=mj, gj_range=DEFAULT_GJ_RANGE)
        assert len(problems) == 1
        assert problems[0].index == 1
        assert "葛+U+E0100" in problems[0].reason
        assert "Moji_Joho" in problems[0].reason and "Adobe-Japan1" in problems[0].reason

    def test_selector_on_a_base_without_sequences(self, mj: Repertoire) -> None:
        assert reasons("髙\U000e0100", mj) == [
            "髙+U+E0100 is not a Moji_Joho sequence of the MJ repertoire "
            "(an Adobe-Japan1 or other IVD collection's sequence?)"
        ]
        assert "not a variation sequence" in reasons("山\ufe00", mj)[0]

    @pytest.mark.parametrize(
        ("text", "index", "reason"),
        [
            ("\U000e0102山", 0, "variation selector without a base character (U+E0102)"),
            ("葛\U000e0102\U000e0103", 2, "doubled variation selector (U+E0103)"),
            ("山\ufffd", 1, "U+FFFD"),
            ("山\x07", 1, "control character U+0007"),
            ("山\ue000", 1, "private-use character U+E000"),
            ("山\uf860", 1, "private-use character U+F860"),  # the font maps it; still never MJ+
            ("山\U000f0001", 1, "Plane-15"),
            ("山田😀", 2, "😀 U+1F600 (GRINNING FACE) is not a character of the MJ repertoire"),
            ("Ω\u0378", 1, "U+0378 is not a character of the MJ repertoire"),  # unassigned
            ("한국", 0, "is not a character of the MJ repertoire"),
            ("山\ud800", 1, "lone surrogate U+D800"),
        ],
    )
    def test_rejects(self, text: str, index: int, reason: str, mj: Repertoire) -> None:
        problems = mj_problems(text, repertoire=mj, gj_range=DEFAULT_GJ_RANGE)
        assert problems and problems[0].index == index and reason in problems[0].reason

    def test_a_rejected_base_is_reported_once(self, mj: Repertoire) -> None:
        assert len(reasons("😀\ufe0f", mj)) == 1
        assert len(reasons("\ue000\U000e0100", mj)) == 1
        assert len(reasons("\ue000\U000e0100\U000e0100", mj)) == 2  # …but a doubled selector is its own

    def test_every_problem_in_order(self, mj: Repertoire) -> None:
        problems = mj_problems("😀葛\U000e0100\x07", repertoire=mj, gj_range=DEFAULT_GJ_RANGE)
        assert [problem.index for problem in problems] == [0, 2, 3]

    def test_plane_16_inside_and_outside_the_gj_range(self, mj: Repertoire) -> None:
        assert reasons(f"{chr(GJ_FIRST)}田{chr(GJ_LAST)}", mj) == []
        assert "outside the GJ range U+100000–U+104E1F" in reasons(chr(GJ_LAST + 1), mj)[0]
        assert reasons("\U0010fffd", mj)
        narrow = (GJ_FIRST, GJ_FIRST + 9)
        assert mj_problems(chr(GJ_FIRST + 9), repertoire=mj, gj_range=narrow) == []
        assert mj_problems(chr(GJ_FIRST + 10), repertoire=mj, gj_range=narrow)

    def test_gj_range_comes_from_the_setting(self, mj: Repertoire, settings: Settings) -> None:
        settings.MADOGUCHI_GJ_RANGE = (GJ_FIRST, GJ_FIRST + 9)
        assert mj_problems(chr(GJ_FIRST + 9), repertoire=mj) == []
        assert "U+100000–U+100009" in mj_problems(chr(GJ_FIRST + 10), repertoire=mj)[0].reason

    def test_gj_character_has_no_variation_sequences(self, mj: Repertoire) -> None:
        assert reasons(f"{chr(GJ_FIRST)}\U000e0100", mj) == [
            "U+100000+U+E0100 is not a Moji_Joho sequence of the MJ repertoire "
            "(an Adobe-Japan1 or other IVD collection's sequence?)"
        ]

    def test_newlines(self, mj: Repertoire) -> None:
        assert reasons("窓口市\r\n1番\t地", mj, allow_newlines=True) == []
        assert reasons("窓口市\n1番", mj) == ["control character U+000A"]
        assert reasons("窓口市\n\U000e0102", mj, allow_newlines=True) == [
            "variation selector without a base character (U+E0102)"
        ]

    @pytest.mark.parametrize(
        "text", ["山\ufffd", "山\x07", "山\ue000", "山\U000f0001", "\U000e0102山", "葛\U000e0102\U000e0103"]
    )
    def test_rejects_what_text_problems_rejects(self, text: str, mj: Repertoire) -> None:
        assert text_problems(text)
        assert [p.index for p in mj_problems(text, repertoire=mj)] == [p.index for p in text_problems(text)]


class TestMjWarnings:
    def test_clean_text(self) -> None:
        assert mj_warnings("葛\U000e0102西　髙橋 〜 − 1") == []

    def test_compatibility_ideograph(self) -> None:
        warnings = mj_warnings("\uf9dc之")
        assert len(warnings) == 1 and warnings[0].index == 0
        assert "U+F9DC is a CJK compatibility ideograph" in warnings[0].reason
        assert "U+9686" in warnings[0].reason
        assert mj_warnings("\U0002f800") != []  # the supplement block too

    def test_unified_ideographs_of_the_compatibility_block_are_not_warned(self) -> None:
        assert mj_warnings("山\ufa11") == []  # 﨑

    @pytest.mark.parametrize(("text", "index"), [("1〜2、3～4", 5), ("1−2－3", 3), ("－−", 1)])
    def test_mixed_lookalikes(self, text: str, index: int) -> None:
        warnings = mj_warnings(text)
        assert len(warnings) == 1 and warnings[0].index == index
        assert "CP932" in warnings[0].reason

    def test_warnings_in_order(self) -> None:
        assert [w.index for w in mj_warnings("1〜2～\uf9dc")] == [3, 4]
