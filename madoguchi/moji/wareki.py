"""和暦 (Japanese era) formatting (domain.md §5)."""

import datetime as dt
from typing import NamedTuple


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
