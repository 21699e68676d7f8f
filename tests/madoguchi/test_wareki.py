import datetime as dt

import pytest

from madoguchi.moji.wareki import parse_birth_date

TODAY = dt.date(2026, 11, 21)


@pytest.mark.parametrize(
    ("typed", "day"),
    [
        ("1980-01-01", dt.date(1980, 1, 1)),
        ("1980/1/1", dt.date(1980, 1, 1)),
        ("1980.1.1", dt.date(1980, 1, 1)),
        ("19800101", dt.date(1980, 1, 1)),
        ("1980年1月1日", dt.date(1980, 1, 1)),
        ("S55.1.1", dt.date(1980, 1, 1)),
        ("s55.1.1", dt.date(1980, 1, 1)),
        ("S55/1/1", dt.date(1980, 1, 1)),
        ("S55-01-01", dt.date(1980, 1, 1)),
        ("S550101", dt.date(1980, 1, 1)),
        ("昭和55年1月1日", dt.date(1980, 1, 1)),
        ("昭55.1.1", dt.date(1980, 1, 1)),
        ("昭和 55年 1月 1日", dt.date(1980, 1, 1)),
        ("Ｓ５５．１．１", dt.date(1980, 1, 1)),
        ("昭和５５年１月１日", dt.date(1980, 1, 1)),
        ("\u337c55年1月1日", dt.date(1980, 1, 1)),  # ㍼, the one-character 昭和
        ("3550101", dt.date(1980, 1, 1)),
        ("昭和元年12月25日", dt.date(1926, 12, 25)),
        ("S1.12.31", dt.date(1926, 12, 31)),
        ("昭和64年1月7日", dt.date(1989, 1, 7)),
        ("平成元年1月8日", dt.date(1989, 1, 8)),
        ("H31.4.30", dt.date(2019, 4, 30)),
        ("4310430", dt.date(2019, 4, 30)),
        ("R1.5.1", dt.date(2019, 5, 1)),
        ("R元.5.1", dt.date(2019, 5, 1)),
        ("令和元年5月1日", dt.date(2019, 5, 1)),
        ("5010501", dt.date(2019, 5, 1)),
        ("大正元年7月30日", dt.date(1912, 7, 30)),
        ("T15.12.24", dt.date(1926, 12, 24)),
        ("M45.7.29", dt.date(1912, 7, 29)),
        ("1450729", dt.date(1912, 7, 29)),
        ("2024-02-29", dt.date(2024, 2, 29)),
        ("2026-11-21", TODAY),
    ],
)
def test_accepts_what_clerks_type(typed: str, day: dt.date) -> None:
    assert parse_birth_date(typed, today=TODAY) == day


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "is not a date; type it as 1980-01-01"),
        ("abc", "is not a date"),
        ("550101", "is not a date"),  # six digits without an era
        ("S55.1", "is not a date"),
        ("X55.1.1", "is not a date"),
        ("2023-02-30", "2023-02 has no day 30"),
        ("0000-01-01", "there is no year 0"),
        ("2023-2-29", "2023-02 has no day 29"),
        ("S55.13.1", "there is no month 13"),
        ("S55.0.1", "there is no month 0"),
        ("S55.2.30", "1980-02 has no day 30"),
        ("令和1年4月30日", "令和 began on 2019-05-01; 2019-04-30 is 平成31年4月30日"),
        ("R1.1.1", "令和 began on 2019-05-01"),
        ("平成32年1月1日", "平成 ended on 2019-04-30; 2020-01-01 is 令和2年1月1日"),
        ("昭和64年1月8日", "昭和 ended on 1989-01-07; 1989-01-08 is 平成元年1月8日"),
        ("S0.1.1", "there is no year 0 of 昭和"),
        ("6550101", "the era digit must be 1 (明治) … 5 (令和), not 6"),
        ("0550101", "the era digit must be 1 (明治) … 5 (令和), not 0"),
        ("M1.1.24", "明治 began on 1868-01-25"),
        ("1850-01-01", "before 明治 (1868-01-25)"),
        ("2026-11-22", "2026-11-22 is in the future"),
        ("R9.1.1", "2027-01-01 is in the future"),
    ],
)
def test_rejects_with_a_clear_message(typed: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_birth_date(typed, today=TODAY)
    assert str(raised.value).startswith(repr(typed))  # the clerk sees what they typed
    assert message in str(raised.value)


def test_today_defaults_to_the_date_in_japan() -> None:
    assert parse_birth_date("2019-05-01") == dt.date(2019, 5, 1)
    with pytest.raises(ValueError, match="in the future"):
        parse_birth_date((dt.date.today() + dt.timedelta(days=2)).isoformat())
