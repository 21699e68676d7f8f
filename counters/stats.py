"""Reception progress and statistics for supervisors (R-C7, product.md "The counter visit" step 8 効果測定).

Reads: ``progress_board`` (every reception of a day and how far it has got), ``day_summary`` and
``month_summary`` (counts, waiting and handling times per counter and procedure, forms filled) and their CSV
files. Writes of progress: ``receptions_linked`` (連携済, subscribed to the outbound export's hook) and
``reception_progress_set`` (完了 / 差戻し from the RPA results). Every figure is defined in docs/statistics.md.

A reception belongs to the day (in the city's time zone) on which its session was opened. Counts are SQL
aggregates; durations are computed here from (start, end) pairs fetched in one query, so SQLite and PostgreSQL
give the same figures. A summary costs a fixed number of queries, however many receptions there are.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
import logging
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Max, Q, QuerySet, Sum
from django.db.models.functions import ExtractHour, TruncDate
from django.utils import timezone, translation

from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record
from madoguchi.moji.csvsafe import FORMULA_PREFIXES

from .models import CounterSession, Progress, SessionEvent, SessionForm, SessionState

logger = logging.getLogger(__name__)

BEFORE_LINKED = (Progress.RECEIVED, Progress.CONFIRMED, Progress.OUTPUT)
"""Progress a written export moves to 連携済; 連携済, 完了 and 差戻し stay as they are."""

WEEKDAYS = "月火水木金土日"


# --- Figures -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Durations:
    """Minutes of one kind of time (waiting or handling) over a group of receptions; None without any."""

    count: int = 0
    average: float | None = None
    median: float | None = None
    p90: float | None = None

    @classmethod
    def of(cls, minutes: Sequence[float]) -> Durations:
        """Average, median (the middle value; the mean of the two middle values for an even count) and 90th
        percentile by nearest rank (the smallest value that at least 90% of the values do not exceed)."""
        if not minutes:
            return cls()
        ordered = sorted(minutes)
        return cls(
            count=len(ordered),
            average=statistics.fmean(ordered),
            median=statistics.median(ordered),
            p90=ordered[math.ceil(0.9 * len(ordered)) - 1],
        )


@dataclass(frozen=True)
class Figures:
    """The figures of a group of receptions (a day, a counter, a procedure, an hour).

    ``forms`` and ``prefilled`` are None where forms cannot be told apart by the group (a procedure, an hour).
    """

    visits: int = 0
    finished: int = 0
    returned: int = 0
    progress: dict[str, int] = field(default_factory=lambda: dict.fromkeys(Progress.values, 0))
    waiting: Durations = Durations()
    handling: Durations = Durations()
    forms: int | None = None
    prefilled: int | None = None

    @property
    def progress_rows(self) -> list[tuple[str, str, int]]:
        """(value, label, count) of every progress, in order."""
        return [(value, str(label), self.progress.get(value, 0)) for value, label in Progress.choices]


@dataclass(frozen=True)
class FiguresRow:
    """One row of a breakdown: a counter (code, name), a procedure (code, name), an hour, or a day."""

    code: str
    name: str
    figures: Figures


@dataclass(frozen=True)
class FormRow:
    """Forms filled for residents, per form: how many, and how many fields were filled automatically."""

    form_code: str
    name: str
    count: int
    prefilled: int


@dataclass(frozen=True)
class DaySummary:
    day: dt.date
    total: Figures
    by_counter: list[FiguresRow]
    by_procedure: list[FiguresRow]
    by_hour: list[FiguresRow]
    forms: list[FormRow]


@dataclass(frozen=True)
class MonthSummary:
    year: int
    month: int
    total: Figures
    by_day: list[FiguresRow]
    by_counter: list[FiguresRow]
    by_procedure: list[FiguresRow]
    forms: list[FormRow]

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, self.month, 1)


@dataclass(frozen=True)
class BoardRow:
    """One reception on the progress board. Reception numbers only: never a resident's name or address."""

    reception_no: str
    counter_code: str
    counter: str
    clerk: str
    state: str
    state_label: str
    progress: str
    progress_label: str
    opened_at: dt.datetime
    finished_at: dt.datetime | None
    linked_at: dt.datetime | None


# --- Periods -------------------------------------------------------------------------------------------


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_default_timezone())


def _sessions_between(first: dt.date, last: dt.date, department: str | None) -> QuerySet[CounterSession]:
    """Sessions opened from ``first`` to ``last`` (both included), in the city's time zone; with ``department``,
    only those at its counters and at shared ones (roles.in_scope)."""
    sessions = CounterSession.objects.filter(
        opened_at__gte=_local_midnight(first), opened_at__lt=_local_midnight(last + dt.timedelta(days=1))
    )
    if department is not None:
        sessions = sessions.filter(counter__department__in=(department, ""))
    return sessions


def _month_days(year: int, month: int) -> list[dt.date]:
    return [dt.date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]


# --- Counting ------------------------------------------------------------------------------------------

_RETURNED = Q(progress=Progress.RETURNED) | Q(state=SessionState.RETURNED)
_COUNTS: dict[str, Any] = {
    "visits": Count("id"),
    "finished": Count("id", filter=Q(finished_at__isnull=False)),
    "returned": Count("id", filter=_RETURNED),
    **{f"progress_{value}": Count("id", filter=Q(progress=value)) for value in Progress.values},
}


@dataclass
class _Counts:
    visits: int = 0
    finished: int = 0
    returned: int = 0
    progress: dict[str, int] = field(default_factory=lambda: dict.fromkeys(Progress.values, 0))

    def add(self, other: _Counts) -> None:
        self.visits += other.visits
        self.finished += other.finished
        self.returned += other.returned
        for value, count in other.progress.items():
            self.progress[value] += count

    @classmethod
    def of_row(cls, row: Mapping[str, Any]) -> _Counts:
        return cls(
            visits=row["visits"],
            finished=row["finished"],
            returned=row["returned"],
            progress={value: row[f"progress_{value}"] for value in Progress.values},
        )


def _counts_by(sessions: QuerySet[CounterSession], key: str, **group: Any) -> dict[Any, _Counts]:
    """Counts per value of ``key`` (a field, or an expression given in ``group``), as one aggregate query."""
    rows = sessions.annotate(**group).values(key).annotate(**_COUNTS).order_by()
    return {row[key]: _Counts.of_row(row) for row in rows}


@dataclass
class _Timing:
    """What one reception contributes to durations and to the procedure breakdown."""

    counter_id: int
    day: dt.date
    hour: int
    procedures: list[tuple[str, str]]
    progress: str
    finished: bool
    returned: bool
    waiting: float | None
    handling: float | None


def _minutes(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    """Minutes from start to end; None when either is missing or the end comes first (a clock gone wrong)."""
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds() / 60


def _procedures(value: Any) -> list[tuple[str, str]]:
    """(code, name) of each procedure of a session, once per code."""
    seen: dict[str, str] = {}
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict) and item.get("code"):
            seen.setdefault(str(item["code"]), str(item.get("name") or item["code"]))
    return list(seen.items())


def _timings(sessions: QuerySet[CounterSession]) -> list[_Timing]:
    """Every reception's (start, end) pairs and procedures, fetched in one query (the ticket joined)."""
    rows = sessions.values_list(
        "counter_id", "procedures", "progress", "state", "opened_at", "finished_at",
        "ticket__issued_at", "ticket__called_at",
    ).order_by("opened_at", "id")  # fmt: skip
    timings = []
    for counter_id, procedures, progress, state, opened, finished, issued, called in rows:
        local = timezone.localtime(opened, timezone.get_default_timezone())
        timings.append(
            _Timing(
                counter_id=counter_id,
                day=local.date(),
                hour=local.hour,
                procedures=_procedures(procedures),
                progress=progress,
                finished=finished is not None,
                returned=progress == Progress.RETURNED or state == SessionState.RETURNED,
                waiting=_minutes(issued, called),
                handling=_minutes(opened, finished),
            )
        )
    return timings


def _durations_by(pairs: Iterable[tuple[Any, _Timing]]) -> dict[Any, tuple[Durations, Durations]]:
    """(waiting, handling) per key, from (key, timing) pairs."""
    waiting: dict[Any, list[float]] = defaultdict(list)
    handling: dict[Any, list[float]] = defaultdict(list)
    for key, timing in pairs:
        if timing.waiting is not None:
            waiting[key].append(timing.waiting)
        if timing.handling is not None:
            handling[key].append(timing.handling)
    return {key: (Durations.of(waiting[key]), Durations.of(handling[key])) for key in {*waiting, *handling}}


def _figures(
    counts: _Counts | None,
    durations: tuple[Durations, Durations] | None,
    forms: tuple[int, int] | None = None,
) -> Figures:
    counts = counts or _Counts()
    waiting, handling = durations or (Durations(), Durations())
    return Figures(
        visits=counts.visits,
        finished=counts.finished,
        returned=counts.returned,
        progress=dict(counts.progress),
        waiting=waiting,
        handling=handling,
        forms=forms[0] if forms else None,
        prefilled=forms[1] if forms else None,
    )


def _by_procedure(timings: list[_Timing]) -> list[FiguresRow]:
    """A session counts once for each procedure code in its ``procedures``; ordered by visits, then code."""
    names: dict[str, str] = {}
    counts: dict[str, _Counts] = defaultdict(_Counts)
    for timing in timings:
        for code, name in timing.procedures:
            names.setdefault(code, name)
            c = counts[code]
            c.visits += 1
            c.finished += timing.finished
            c.returned += timing.returned
            c.progress[timing.progress] = c.progress.get(timing.progress, 0) + 1
    durations = _durations_by((code, timing) for timing in timings for code, _ in timing.procedures)
    rows = [FiguresRow(code, names[code], _figures(counts[code], durations.get(code))) for code in counts]
    return sorted(rows, key=lambda row: (-row.figures.visits, row.code))


# --- Forms ---------------------------------------------------------------------------------------------


def _forms_of(sessions: QuerySet[CounterSession]) -> QuerySet[SessionForm]:
    """Forms filled for residents: the forms of finished sessions."""
    return SessionForm.objects.filter(session__in=sessions.filter(finished_at__isnull=False))


def _forms_by(forms: QuerySet[SessionForm], key: str, **group: Any) -> dict[Any, tuple[int, int]]:
    rows = forms.annotate(**group).values(key).annotate(n=Count("id"), fields=Sum("prefilled")).order_by()
    return {row[key]: (row["n"], row["fields"] or 0) for row in rows}


def _form_rows(forms: QuerySet[SessionForm]) -> list[FormRow]:
    rows = forms.values("form_code").annotate(n=Count("id"), fields=Sum("prefilled"), title=Max("name"))
    return sorted(
        (FormRow(r["form_code"], r["title"], r["n"], r["fields"] or 0) for r in rows.order_by()),
        key=lambda row: (-row.count, row.form_code),
    )


def _by_counter(
    sessions: QuerySet[CounterSession],
    durations: dict[Any, tuple[Durations, Durations]],
    forms: dict[Any, tuple[int, int]],
) -> tuple[list[FiguresRow], _Counts]:
    """Rows per counter (in code order) and the counts of all counters together."""
    rows = (
        sessions.values("counter_id", "counter__code", "counter__name")
        .annotate(**_COUNTS)
        .order_by("counter__code")
    )
    total, result = _Counts(), []
    for row in rows:
        counts = _Counts.of_row(row)
        total.add(counts)
        cid = row["counter_id"]
        result.append(
            FiguresRow(
                row["counter__code"],
                row["counter__name"],
                _figures(counts, durations.get(cid), forms.get(cid, (0, 0))),
            )
        )
    return result, total


def _sum_forms(forms: dict[Any, tuple[int, int]]) -> tuple[int, int]:
    return sum(n for n, _ in forms.values()), sum(fields for _, fields in forms.values())


# --- Public reads --------------------------------------------------------------------------------------


def progress_board(*, day: dt.date, department: str | None = None) -> list[BoardRow]:
    """Every reception of ``day`` in the order they were opened, with its state and progress; one query."""
    rows = (
        _sessions_between(day, day, department)
        .values_list(
            "reception_no", "counter__code", "counter__name", "clerk__display_name", "clerk__username",
            "state", "progress", "opened_at", "finished_at", "linked_at",
        )
        .order_by("opened_at", "id")
    )  # fmt: skip
    states, progresses = dict(SessionState.choices), dict(Progress.choices)
    return [
        BoardRow(
            reception_no=no,
            counter_code=code,
            counter=counter,
            clerk=display or username or "",
            state=state,
            state_label=str(states.get(state, state)),
            progress=progress,
            progress_label=str(progresses.get(progress, progress)),
            opened_at=opened,
            finished_at=finished,
            linked_at=linked,
        )
        for no, code, counter, display, username, state, progress, opened, finished, linked in rows
    ]


def day_summary(*, day: dt.date, department: str | None = None) -> DaySummary:
    """The figures of ``day``: in total, per counter, per procedure and per hour of opening, and forms filled."""
    sessions = _sessions_between(day, day, department)
    timings = _timings(sessions)
    forms = _forms_of(sessions)
    forms_per_counter = _forms_by(forms, "session__counter_id")
    by_counter, total = _by_counter(
        sessions, _durations_by((t.counter_id, t) for t in timings), forms_per_counter
    )
    hour_durations = _durations_by((t.hour, t) for t in timings)
    tz = timezone.get_default_timezone()
    by_hour = [
        FiguresRow(f"{hour:02d}", f"{hour}時台", _figures(counts, hour_durations.get(hour)))
        for hour, counts in sorted(
            _counts_by(sessions, "hour", hour=ExtractHour("opened_at", tzinfo=tz)).items()
        )
    ]
    return DaySummary(
        day=day,
        total=_figures(
            total, _durations_by((None, t) for t in timings).get(None), _sum_forms(forms_per_counter)
        ),
        by_counter=by_counter,
        by_procedure=_by_procedure(timings),
        by_hour=by_hour,
        forms=_form_rows(forms),
    )


def month_summary(*, year: int, month: int, department: str | None = None) -> MonthSummary:
    """The figures of a month: one row per day (every day, also days without receptions), per counter, per
    procedure, forms filled, and the month's total."""
    days = _month_days(year, month)
    sessions = _sessions_between(days[0], days[-1], department)
    timings = _timings(sessions)
    forms = _forms_of(sessions)
    tz = timezone.get_default_timezone()
    per_day = _counts_by(sessions, "local_day", local_day=TruncDate("opened_at", tzinfo=tz))
    day_durations = _durations_by((t.day, t) for t in timings)
    forms_per_day = _forms_by(forms, "local_day", local_day=TruncDate("session__opened_at", tzinfo=tz))
    forms_per_counter = _forms_by(forms, "session__counter_id")
    by_counter, total = _by_counter(
        sessions, _durations_by((t.counter_id, t) for t in timings), forms_per_counter
    )
    return MonthSummary(
        year=year,
        month=month,
        total=_figures(
            total, _durations_by((None, t) for t in timings).get(None), _sum_forms(forms_per_counter)
        ),
        by_day=[
            FiguresRow(
                day.isoformat(),
                WEEKDAYS[day.weekday()],
                _figures(per_day.get(day), day_durations.get(day), forms_per_day.get(day, (0, 0))),
            )
            for day in days
        ],
        by_counter=by_counter,
        by_procedure=_by_procedure(timings),
        forms=_form_rows(forms),
    )


# --- CSV -----------------------------------------------------------------------------------------------

BOARD_HEADER = [
    "受付番号",
    "窓口コード",
    "窓口",
    "担当職員",
    "状態",
    "進捗",
    "受付日時",
    "完了日時",
    "連携日時",
]


def figures_header() -> list[str]:
    """The columns of the day and month CSV files (in Japanese, whatever the page's language)."""
    with translation.override("ja"):
        progress = [f"進捗:{label}" for label in Progress.labels]
    return [
        "区分", "コード", "名称", "受付件数", "窓口完了", "差戻し", *progress,
        "待ち件数", "平均待ち時間(分)", "待ち時間中央値(分)", "待ち時間90%値(分)",
        "処理件数", "平均処理時間(分)", "処理時間中央値(分)", "処理時間90%値(分)",
        "作成申請書数", "自動記入項目数",
    ]  # fmt: skip


def _cell(value: Any) -> str:
    """A value as the report writes it: minutes with one decimal, times local to the second, and text that a
    spreadsheet would run as a formula behind a leading quote (statistics are read by people, not by RPA)."""
    if value is None:
        return ""
    if isinstance(value, float):  # rounded half up, as the pages and Excel's ROUND do
        return str(Decimal(repr(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    if isinstance(value, dt.datetime):
        return timezone.localtime(value, timezone.get_default_timezone()).strftime("%Y-%m-%d %H:%M:%S")
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 with BOM (so Excel reads it as UTF-8), CRLF."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def _figures_cells(section: str, code: str, name: str, f: Figures) -> list[Any]:
    return [
        section, code, name, f.visits, f.finished, f.returned,
        *(f.progress.get(value, 0) for value in Progress.values),
        f.waiting.count, f.waiting.average, f.waiting.median, f.waiting.p90,
        f.handling.count, f.handling.average, f.handling.median, f.handling.p90,
        f.forms, f.prefilled,
    ]  # fmt: skip


def _form_cells(row: FormRow) -> list[Any]:
    blank: list[Any] = [None] * (len(_figures_cells("", "", "", Figures())) - 5)
    return ["様式", row.form_code, row.name, *blank, row.count, row.prefilled]


def _breakdown_rows(section: str, rows: Iterable[FiguresRow]) -> list[list[Any]]:
    return [_figures_cells(section, row.code, row.name, row.figures) for row in rows]


def progress_board_csv(rows: Sequence[BoardRow]) -> bytes:
    """The progress board as CSV (columns: ``BOARD_HEADER``; states and progress in Japanese)."""
    with translation.override("ja"):
        states, progresses = dict(SessionState.choices), dict(Progress.choices)
        return _csv(
            BOARD_HEADER,
            (
                [r.reception_no, r.counter_code, r.counter, r.clerk, states.get(r.state, r.state),
                 progresses.get(r.progress, r.progress), r.opened_at, r.finished_at, r.linked_at]
                for r in rows
            ),
        )  # fmt: skip


def day_summary_csv(summary: DaySummary) -> bytes:
    """A day's figures as one table (columns: ``figures_header()``); 区分 is 全体, 窓口, 手続, 時間帯 or 様式."""
    return _csv(
        figures_header(),
        [
            _figures_cells("全体", summary.day.isoformat(), "", summary.total),
            *_breakdown_rows("窓口", summary.by_counter),
            *_breakdown_rows("手続", summary.by_procedure),
            *_breakdown_rows("時間帯", summary.by_hour),
            *(_form_cells(row) for row in summary.forms),
        ],
    )


def month_summary_csv(summary: MonthSummary) -> bytes:
    """A month's figures as one table (columns: ``figures_header()``); 区分 is 日, 合計, 窓口, 手続 or 様式."""
    return _csv(
        figures_header(),
        [
            *_breakdown_rows("日", summary.by_day),
            _figures_cells("合計", f"{summary.year:04d}-{summary.month:02d}", "", summary.total),
            *_breakdown_rows("窓口", summary.by_counter),
            *_breakdown_rows("手続", summary.by_procedure),
            *(_form_cells(row) for row in summary.forms),
        ],
    )


# --- Writes of progress --------------------------------------------------------------------------------

_CHUNK = 500  # reception numbers per query: well under SQLite's limit of bound parameters


def receptions_linked(reception_nos: Iterable[str]) -> int:
    """連携済: the receptions whose data an outbound export has just written (integrations' ``export_written``
    hook). Moves 受付 / 確認済 / 出力済 to 連携済 and sets ``linked_at``; 連携済, 完了 and 差戻し stay, so calling
    it again changes nothing. Each move is on the session's timeline and in the audit log. Returns how many
    moved. A query of reception numbers is used as a subquery (one statement for a whole batch); other
    iterables go in chunks of bound parameters."""
    if isinstance(reception_nos, QuerySet):
        chunks: Iterable[Any] = [reception_nos]
    else:
        numbers = sorted(set(reception_nos))
        chunks = (numbers[start : start + _CHUNK] for start in range(0, len(numbers), _CHUNK))
    now, moved = timezone.now(), 0
    for chunk in chunks:
        with transaction.atomic():
            before = CounterSession.objects.filter(reception_no__in=chunk, progress__in=BEFORE_LINKED)
            sessions = list(
                before.select_for_update().only("id", "reception_no", "counter_id", "state", "progress")
            )
            if not sessions:
                continue
            before.update(  # the rows just locked
                progress=Progress.LINKED, linked_at=now, version=F("version") + 1
            )
            SessionEvent.objects.bulk_create(
                _progress_record(s, progress=Progress.LINKED, actor=None, detail={"via": "export"})
                for s in sessions
            )
            moved += len(sessions)
    return moved


def reception_progress_set(
    *, reception_no: str, progress: str, actor: Any = None, reason: str = ""
) -> CounterSession:
    """Set a reception's progress, e.g. 完了 (``done``) or 差戻し (``returned``) from the RPA results, with a
    ``progress`` event on its timeline and an audit record. ``reason`` (at most 300 characters kept) becomes
    the 差戻し理由 of a returned reception and goes on the timeline: it must not hold names, addresses or
    numbers. Setting the progress it already has changes nothing. Raises ValueError for an unknown progress
    and CounterSession.DoesNotExist for an unknown reception number."""
    if progress not in Progress.values:
        raise ValueError(f"unknown progress {progress!r}")
    reason = reason[:300]
    with transaction.atomic():
        session = CounterSession.objects.select_for_update().get(reception_no=reception_no)
        if session.progress == progress:
            return session
        event = _progress_record(
            session, progress=progress, actor=actor, detail={"reason": reason} if reason else {}
        )
        session.progress = progress
        session.version += 1
        fields = ["progress", "version"]
        if progress == Progress.LINKED and session.linked_at is None:
            session.linked_at = timezone.now()
            fields.append("linked_at")
        if progress == Progress.RETURNED:
            session.return_reason = reason
            fields.append("return_reason")
        session.save(update_fields=fields)
        event.save()
    return session


def _progress_record(
    session: CounterSession, *, progress: str, actor: Any, detail: dict[str, Any]
) -> SessionEvent:
    """Audit a progress change of ``session`` (still holding the progress it leaves) and return its timeline
    entry (kind ``progress``), unsaved, with the old and the new progress and why."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    change = {"progress": progress, "from": session.progress}
    audit_record(
        actor=user,
        action=AuditAction.SESSION,
        target_type="reception",
        target_ref=session.reception_no,
        detail={
            "kind": "progress",
            "state": session.state,
            **change,
            # The reason is free text from the RPA results: kept on the timeline, not in the audit log.
            **{key: value for key, value in detail.items() if key != "reason"},
        },
    )
    return SessionEvent(
        session=session,
        kind="progress",
        state=session.state,
        counter_id=session.counter_id,
        actor=user,
        detail={**change, **detail},
    )


def reception_result(reception_no: str, ok: bool, message: str) -> None:
    """The RPA result for a reception (integrations' ``export_result`` hook): OK → 完了, NG → 差戻し with the
    robot's message as the reason. A reception this system does not hold (e.g. deleted) is logged."""
    try:
        reception_progress_set(
            reception_no=reception_no,
            progress=Progress.DONE if ok else Progress.RETURNED,
            reason="" if ok else f"基幹系: {message}",
        )
    except CounterSession.DoesNotExist:
        logger.warning("an export result names a reception without a session")


def reception_requeued(reception_no: str) -> None:
    """A refused reception's rows were corrected and queued again (integrations' ``export_requeued`` hook):
    back to 出力済 until the new batch is written."""
    try:
        reception_progress_set(reception_no=reception_no, progress=Progress.OUTPUT)
    except CounterSession.DoesNotExist:
        logger.warning("a re-queued export names a reception without a session")
