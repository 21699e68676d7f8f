"""Statistics for supervisors (監督者, R-C7): today's progress board, a day's and a month's figures, as tables,
server-rendered SVG bar charts (each with the same numbers in a table) and CSV downloads."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from madoguchi.accounts.roles import Role, department_of, role_required

from . import stats

supervisor_required = role_required(Role.SUPERVISOR)
DAY_HOURS = range(8, 18)
"""Hours a day chart always shows (8時台–17時台, the usual opening hours); receptions outside widen it."""


# --- Charts --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    text: str
    series: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Label:
    text: str
    x: float
    y: float
    anchor: str = "middle"
    css: str = "axis"


@dataclass(frozen=True)
class Chart:
    """An SVG bar chart as geometry; the template draws it with its title and description for screen readers."""

    id: str
    title: str
    desc: str
    width: int
    height: int
    bars: list[Bar]
    labels: list[Label]
    grid: list[tuple[float, float, float, float]]
    legend: list[tuple[int, str]]


def _nice_step(top: float, ticks: int = 4) -> float:
    """A step of 1, 2 or 5 × 10^n that divides 0..top into about ``ticks`` parts."""
    if top <= 0:
        return 1
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _number(value: float, unit: str) -> str:
    return f"{value:g}{unit}" if float(value).is_integer() else f"{value:.1f}{unit}"


def column_chart(
    *, chart_id: str, title: str, desc: str, labels: Sequence[str], values: Sequence[float], unit: str
) -> Chart:
    """Vertical bars of counts, one per label (hours of a day, days of a month)."""
    width, height, left, top, bottom = 720, 240, 44, 16, 28
    plot_w, plot_h = width - left - 8, height - top - bottom
    step = max(1, _nice_step(max(values, default=0)))  # counts: whole-number ticks
    ceiling = step * max(1, math.ceil(max(values, default=0) / step))
    slot = plot_w / max(1, len(labels))
    bars: list[Bar] = []
    texts: list[Label] = []
    grid: list[tuple[float, float, float, float]] = []
    for tick in range(int(ceiling / step) + 1):
        y = top + plot_h - plot_h * tick * step / ceiling
        grid.append((left, round(y, 1), width - 8, round(y, 1)))
        texts.append(Label(_number(tick * step, ""), left - 6, round(y + 4, 1), anchor="end"))
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / ceiling
        x = left + slot * i + slot * 0.15
        bars.append(
            Bar(
                label,
                _number(value, unit),
                0,
                round(x, 1),
                round(top + plot_h - h, 1),
                round(slot * 0.7, 1),
                round(h, 1),
            )
        )
        texts.append(Label(label, round(left + slot * (i + 0.5), 1), height - 10))
        if value:
            texts.append(
                Label(
                    _number(value, ""),
                    round(left + slot * (i + 0.5), 1),
                    round(top + plot_h - h - 3, 1),
                    css="value",
                )
            )
    return Chart(chart_id, title, desc, width, height, bars, texts, grid, [])


def bar_chart(
    *,
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    unit: str,
) -> Chart:
    """Horizontal bars, a group per label (counters) with one bar per series; a missing value draws no bar."""
    left, right, bar_h, gap = 170, 70, 14, 12
    width = 720
    group_h = bar_h * len(series) + gap
    height = 24 + group_h * max(1, len(labels))
    plot_w = width - left - right
    top_value = max((v for _, values in series for v in values if v is not None), default=0.0)
    step = _nice_step(top_value)
    ceiling = step * max(1, math.ceil(top_value / step))
    bars: list[Bar] = []
    texts: list[Label] = []
    grid: list[tuple[float, float, float, float]] = []
    for tick in range(int(ceiling / step) + 1):
        x = round(left + plot_w * tick * step / ceiling, 1)
        grid.append((x, 4, x, height - 20))
        texts.append(Label(_number(tick * step, ""), x, height - 6))
    for i, label in enumerate(labels):
        y0 = 4 + group_h * i
        texts.append(Label(label, left - 8, round(y0 + bar_h * len(series) / 2 + 4, 1), anchor="end"))
        for s, (name, values) in enumerate(series):
            value = values[i]
            y = y0 + bar_h * s
            if value is None:
                texts.append(Label("—", left + 4, y + bar_h - 3, anchor="start", css="value"))
                continue
            w = round(plot_w * value / ceiling, 1)
            bars.append(Bar(f"{label} {name}", _number(value, unit), s, left, y, w, bar_h - 2))
            texts.append(
                Label(
                    _number(round(value, 1), ""),
                    round(left + w + 4, 1),
                    y + bar_h - 3,
                    anchor="start",
                    css="value",
                )
            )
    legend = [(s, name) for s, (name, _) in enumerate(series)]
    return Chart(chart_id, title, desc, width, height, bars, texts, grid, legend)


def _hour_chart(summary: stats.DaySummary) -> Chart:
    visits = {int(row.code): row.figures.visits for row in summary.by_hour}
    hours = range(min([*visits, DAY_HOURS.start]), max([*visits, DAY_HOURS.stop - 1]) + 1)
    return column_chart(
        chart_id="chart-hours",
        title=_("時間帯ごとの受付件数"),
        desc=_(
            "%(day)s の受付 %(n)d 件を受付を開始した時間帯ごとに数えた棒グラフ。同じ数値は下の表にあります。"
        )
        % {"day": summary.day.isoformat(), "n": summary.total.visits},
        labels=[str(hour) for hour in hours],
        values=[visits.get(hour, 0) for hour in hours],
        unit=_("件"),
    )


def _day_chart(summary: stats.MonthSummary) -> Chart:
    return column_chart(
        chart_id="chart-days",
        title=_("日ごとの受付件数"),
        desc=_("%(year)d年%(month)d月の受付 %(n)d 件を日ごとに数えた棒グラフ。同じ数値は下の表にあります。")
        % {"year": summary.year, "month": summary.month, "n": summary.total.visits},
        labels=[str(int(row.code[-2:])) for row in summary.by_day],
        values=[row.figures.visits for row in summary.by_day],
        unit=_("件"),
    )


def _counter_chart(rows: Sequence[stats.FiguresRow]) -> Chart:
    return bar_chart(
        chart_id="chart-counters",
        title=_("窓口ごとの平均待ち時間と平均処理時間"),
        desc=_("窓口ごとに平均待ち時間と平均処理時間（分）を並べた横棒グラフ。同じ数値は下の表にあります。"),
        labels=[row.name for row in rows],
        series=[
            (_("平均待ち時間"), [row.figures.waiting.average for row in rows]),
            (_("平均処理時間"), [row.figures.handling.average for row in rows]),
        ],
        unit=_("分"),
    )


# --- Views ---------------------------------------------------------------------------------------------


def _day_of(value: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise Http404("no such day") from None
    if not dt.MINYEAR < day.year < dt.MAXYEAR:  # the pages link the day before and after
        raise Http404("no such day")
    return day


def _month_of(year: str, month: str) -> tuple[int, int]:
    if not (1 <= int(month) <= 12 and dt.MINYEAR < int(year) < dt.MAXYEAR):
        raise Http404("no such month")
    return int(year), int(month)


def _csv_response(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _day_page(request: HttpRequest, day: dt.date) -> HttpResponse:
    summary = stats.day_summary(day=day, department=department_of(request.user))
    board = stats.progress_board(day=day, department=department_of(request.user))
    return render(
        request,
        "counters/stats/day.html",
        {
            "day": day,
            "is_today": day == timezone.localdate(),
            "previous_day": day - dt.timedelta(days=1),
            "next_day": day + dt.timedelta(days=1),
            "summary": summary,
            "board": board,
            "hour_chart": _hour_chart(summary),
            "counter_chart": _counter_chart(summary.by_counter),
        },
    )


@require_GET
@login_required
@supervisor_required
def today(request: HttpRequest) -> HttpResponse:
    """Today's progress board and figures."""
    return _day_page(request, timezone.localdate())


@require_GET
@login_required
@supervisor_required
def day(request: HttpRequest, day: str) -> HttpResponse:
    return _day_page(request, _day_of(day))


@require_GET
@login_required
@supervisor_required
def day_csv(request: HttpRequest, day: str) -> HttpResponse:
    summary = stats.day_summary(day=_day_of(day), department=department_of(request.user))
    return _csv_response(stats.day_summary_csv(summary), f"madoguchi-stats-{summary.day:%Y%m%d}.csv")


@require_GET
@login_required
@supervisor_required
def board_csv(request: HttpRequest, day: str) -> HttpResponse:
    the_day = _day_of(day)
    rows = stats.progress_board(day=the_day, department=department_of(request.user))
    return _csv_response(stats.progress_board_csv(rows), f"madoguchi-progress-{the_day:%Y%m%d}.csv")


@require_GET
@login_required
@supervisor_required
def month(request: HttpRequest, year: str, month: str) -> HttpResponse:
    y, m = _month_of(year, month)
    summary = stats.month_summary(year=y, month=m, department=department_of(request.user))
    first = summary.first_day
    previous = (first - dt.timedelta(days=1)).replace(day=1)
    following = (first + dt.timedelta(days=31)).replace(day=1)
    return render(
        request,
        "counters/stats/month.html",
        {
            "summary": summary,
            "first_day": first,
            "previous_month": previous,
            "next_month": following,
            "day_chart": _day_chart(summary),
            "counter_chart": _counter_chart(summary.by_counter),
        },
    )


@require_GET
@login_required
@supervisor_required
def month_csv(request: HttpRequest, year: str, month: str) -> HttpResponse:
    y, m = _month_of(year, month)
    summary = stats.month_summary(year=y, month=m, department=department_of(request.user))
    return _csv_response(stats.month_summary_csv(summary), f"madoguchi-stats-{y:04d}{m:02d}.csv")
