import datetime as dt

import pytest
from pytest_django.fixtures import Settings

from madoguchi.moji.checkdigit import is_valid, m11w27, with_check_digit
from madoguchi.moji.csvsafe import UnsafeCsvValue, write_csv
from madoguchi.moji.kana import kana_search_key
from madoguchi.moji.text import text_problems
from madoguchi.moji.wareki import format_wareki


class TestCheckDigit:
    def test_weights_run_two_to_seven_from_the_right(self) -> None:
        # 1234567: 7·2 + 6·3 + 5·4 + 4·5 + 3·6 + 2·7 + 1·2 = 106; 106 mod 11 = 7; 11 − 7 = 4
        assert m11w27("1234567") == "4"
        assert is_valid("12345674")
        assert not is_valid("12345675")

    def test_eleven_becomes_zero(self) -> None:
        # 0 → Σ = 0 → 11 − 0 = 11 → "0"
        assert m11w27("0") == "0"

    def test_ten_follows_the_city_setting(self, settings: Settings) -> None:
        # 5: 5·2 = 10 → 11 − 10 = 1; "6": 12 mod 11 = 1 → 10
        assert m11w27("6", ten="0") == "0"
        assert m11w27("6", ten="X") == "X"
        settings.MADOGUCHI_CHECK_DIGIT_TEN = "1"
        assert m11w27("6") == "1"

    def test_rejects_non_digits(self) -> None:
        assert not is_valid("12a4")
        assert not is_valid("１２３４")  # full-width digits are not a 宛名番号
        with pytest.raises(ValueError):
            with_check_digit("12-3")


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("ヤマダ タロウ", "ヤマダタロウ"),
        ("やまだ　たろう", "ヤマダタロウ"),
        ("ﾔﾏﾀﾞ ﾀﾛｰ", "ヤマダタロ"),
        ("キョウコ", "キヨウコ"),
        ("ハットリ", "ハツトリ"),
        ("チヂミ", "チジミ"),
        ("ツヅキ", "ツズキ"),
    ],
)
def test_kana_search_key_folds_width_small_kana_and_long_vowels(typed: str, key: str) -> None:
    assert kana_search_key(typed) == key


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (dt.date(1980, 1, 1), "昭和55年1月1日"),
        (dt.date(1989, 1, 7), "昭和64年1月7日"),
        (dt.date(1989, 1, 8), "平成元年1月8日"),
        (dt.date(2019, 4, 30), "平成31年4月30日"),
        (dt.date(2019, 5, 1), "令和元年5月1日"),
        (dt.date(1926, 12, 25), "昭和元年12月25日"),
        (dt.date(1912, 7, 30), "大正元年7月30日"),
    ],
)
def test_wareki(day: dt.date, text: str) -> None:
    assert format_wareki(day) == text


class TestTextProblems:
    def test_accepts_mj_text_as_it_is(self) -> None:
        assert text_problems("葛\U000e0102西　𠮷田　髙橋　\ufa11") == []

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("山\ufffd", "U+FFFD"),
            ("山\x07", "control character"),
            ("山\ue000", "private-use"),
            ("山\U000f0001", "Plane-15"),
            ("\U000e0102山", "without a base"),
            ("葛\U000e0102\U000e0103", "doubled"),
        ],
    )
    def test_rejects_what_cannot_be_mj(self, text: str, reason: str) -> None:
        problems = text_problems(text)
        assert problems and reason in problems[0].reason


class TestCsv:
    def test_utf8_crlf_and_byte_exact(self) -> None:
        data = write_csv(["氏", "住所"], [["葛\U000e0102西", "窓口市, 1-2"]])
        assert data == '氏,住所\r\n葛\U000e0102西,"窓口市, 1-2"\r\n'.encode()
        assert not data.startswith(b"\xef\xbb\xbf")
        assert write_csv(["a"], [["b"]], bom=True).startswith(b"\xef\xbb\xbf")

    def test_refuses_formula_values_naming_row_and_column(self) -> None:
        with pytest.raises(UnsafeCsvValue, match="row 2, column 住所"):
            write_csv(["氏", "住所"], [["山田", "ok"], ["山田", "=HYPERLINK(1)"]])


def test_jis_x_0213_keeps_a_sequence_it_has_only_with_its_combining_mark() -> None:
    from madoguchi.moji.jis import degrade_to_jisx0213

    assert degrade_to_jisx0213("か\u309a髙") == ("か\u309a高", degrade_to_jisx0213("髙")[1])
