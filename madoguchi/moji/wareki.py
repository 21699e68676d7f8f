"""和暦 (Japanese era) formatting and the parsing of dates as clerks type them (domain.md §5)."""

import datetime as dt
import re
import unicodedata
from typing import NamedTuple
from zoneinfo import ZoneInfo


class Era(NamedTuple):
    name: str
    letter: str
    digit: str
    start: dt.date


# Newest first. 明治 is counted from 1868-01-25 in law.
ERAS: tuple[Era, ...] = (
    Era("令和", "R", "5", dt.date(2019, 5, 1)),
    Era("平成", "H", "4", dt.date(1989, 1, 8)),
    Era("昭和", "S", "3", dt.date(1926, 12, 25)),
    Era("大正", "T", "2", dt.date(1912, 7, 30)),
    Era("明治", "M", "1", dt.date(1868, 1, 25)),
)
# 昭和, 昭, S and 3 all name 昭和.
_ERA_BY_TOKEN = {token: era for era in ERAS for token in (era.name, era.name[0], era.letter, era.digit)}
_FORMATS = "1980-01-01, 1980/1/1, 19800101, S55.1.1, 昭和55年1月1日 or 3550101 (era digit 1 明治 … 5 令和)"
_WESTERN = re.compile(
    r"(\d{4})(?:[-/.](\d{1,2})[-/.](\d{1,2})|年(\d{1,2})月(\d{1,2})日|(\d{2})(\d{2}))", re.ASCII
)
_ERA_NAMES = "|".join(f"{era.name}|{era.name[0]}" for era in ERAS)
_ERA_LETTERS = "".join(era.letter for era in ERAS)
_JAPANESE = re.compile(
    rf"(?P<era>{_ERA_NAMES}|[{_ERA_LETTERS}])\.?"
    r"(?:(?P<year>元|\d{1,2})(?:年|[-/.])(?P<month>\d{1,2})(?:月|[-/.])(?P<day>\d{1,2})日?"
    r"|(?P<yymmdd>\d{6}))",
    re.ASCII,
)
# The core systems' form: era digit + YYMMDD.
_CORE_SYSTEM = re.compile(r"(?P<era>\d)(?P<yymmdd>\d{6})", re.ASCII)


def era_of(day: dt.date) -> tuple[Era, int]:
    """The era of ``day`` and the year within it (1 = 元年)."""
    for era in ERAS:
        if day >= era.start:
            return era, day.year - era.start.year + 1
    raise ValueError(f"{day.isoformat()} is before 明治")


def format_wareki(day: dt.date | None) -> str:
    """``1980-01-01`` → ``昭和55年1月1日``; the first year of an era is written 元年."""
    if day is None:
        return ""
    era, year = era_of(day)
    year_text = "元" if year == 1 else str(year)
    return f"{era.name}{year_text}年{day.month}月{day.day}日"


def _era_end(era: Era) -> dt.date | None:
    index = ERAS.index(era)
    return ERAS[index - 1].start - dt.timedelta(days=1) if index else None


def _date(text: str, year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        if year < dt.MINYEAR:
            raise ValueError(f"{text!r}: there is no year {year}") from None
        if not 1 <= month <= 12:
            raise ValueError(f"{text!r}: there is no month {month}") from None
        raise ValueError(f"{text!r}: {year}-{month:02d} has no day {day}") from None


def _era_date(text: str, era: Era, year: int, month: int, day: int) -> dt.date:
    if year == 0:
        raise ValueError(f"{text!r}: there is no year 0 of {era.name}; its first year is 元年 (1)")
    date = _date(text, era.start.year + year - 1, month, day)
    if date < era.start:
        earlier = f"; {date.isoformat()} is {format_wareki(date)}" if date >= ERAS[-1].start else ""
        raise ValueError(f"{text!r}: {era.name} began on {era.start.isoformat()}{earlier}")
    end = _era_end(era)
    if end is not None and date > end:
        raise ValueError(
            f"{text!r}: {era.name} ended on {end.isoformat()}; {date.isoformat()} is {format_wareki(date)}"
        )
    return date


def _parse(text: str, typed: str) -> dt.date:
    if match := _WESTERN.fullmatch(typed):
        year, *parts = (int(group) for group in match.groups() if group is not None)
        return _date(text, year, parts[0], parts[1])
    match = _JAPANESE.fullmatch(typed) or _CORE_SYSTEM.fullmatch(typed)
    if match is None:
        raise ValueError(f"{text!r} is not a date; type it as {_FORMATS}")
    era = _ERA_BY_TOKEN.get(match["era"])
    if era is None:
        raise ValueError(f"{text!r}: the era digit must be 1 (明治) … 5 (令和), not {match['era']}")
    if (yymmdd := match["yymmdd"]) is not None:
        return _era_date(text, era, int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:]))
    year = 1 if match["year"] == "元" else int(match["year"])
    return _era_date(text, era, year, int(match["month"]), int(match["day"]))


def parse_date(text: str) -> dt.date:
    """A date typed in any of the forms ``parse_birth_date`` reads (和暦, 西暦, the era digit + YYMMDD), without its
    limits on the past and the future: for dates on forms such as 異動日 or 転出予定日."""
    # NFKC only to read the typed text: full-width digits, ＳＨ, ．／ and ㍼ (U+337C) become plain.
    date = _parse(text, "".join(unicodedata.normalize("NFKC", text).upper().split()))
    if date < ERAS[-1].start:
        raise ValueError(f"{text!r}: {date.isoformat()} is before 明治 (1868-01-25)")
    return date


def parse_birth_date(text: str, *, today: dt.date | None = None) -> dt.date:
    """The 生年月日 a clerk typed, in any of the usual forms: ``1980-01-01``, ``1980/1/1``, ``1980年1月1日``,
    ``19800101``; ``S55.1.1`` (any case, ``.``/``/``/``-``), ``S550101``, ``昭和55年1月1日``, ``昭55.1.1``,
    ``平成元年…``; the core systems' era digit + YYMMDD ``3550101``. Full-width digits and letters and spaces are
    accepted (``Ｓ５５．１．１``).

    ValueError with a message a clerk can act on when the text is no date, the date does not exist
    (2023-02-30), lies outside its era (令和1年4月30日 is before 令和 began; 平成32年 is after 平成 ended: a birth
    date is written in the era of the day, so such a year is a typing error), is before 明治 (1868-01-25) or
    after ``today`` (default: today in Japan). 明治 1–5 (before the solar calendar of 1873) are read as Gregorian.
    """
    date = parse_date(text)
    if today is None:
        today = dt.datetime.now(ZoneInfo("Asia/Tokyo")).date()
    if date > today:
        raise ValueError(f"{text!r}: {date.isoformat()} is in the future")
    return date
