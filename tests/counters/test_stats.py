"""Progress and statistics for supervisors (R-C7): the figures of a day and a month, their CSV files, the pages,
and the progress a written export (連携済) or an RPA result (完了 / 差戻し) sets."""

from __future__ import annotations

import ast
import csv
import datetime as dt
import io
import zoneinfo
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from counters import stats
from counters.models import (
    Counter,
    CounterGroup,
    CounterSession,
    Progress,
    SessionEvent,
    SessionForm,
    SessionState,
    Ticket,
    TicketStatus,
)
from integrations import hooks
from integrations.services import ExportRows, export_flush, outbox_put
from integrations.storage import LocalFolderStorage
from madoguchi.accounts.models import User
from madoguchi.audit.models import AuditAction, AuditEvent
from tests.factories import PASSWORD, CounterFactory, UserFactory

pytestmark = pytest.mark.django_db

JST = zoneinfo.ZoneInfo("Asia/Tokyo")
DAY = dt.date(2026, 11, 2)
TENNYU = {"code": "tennyu", "name": "転入届"}
KOKUHO = {"code": "kokuho", "name": "国民健康保険 加入"}
JIDOU = {"code": "jidou", "name": "児童手当"}


def at(day: dt.date, hh: int, mm: int) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=JST)


def visit(
    counter: Counter,
    no: str,
    *,
    opened: dt.datetime,
    finished: dt.datetime | None = None,
    ticket: tuple[dt.datetime, dt.datetime | None] | None = None,
    procedures: Sequence[dict[str, str]] = (),
    state: str = SessionState.FINISHED,
    progress: str = Progress.OUTPUT,
    clerk: User | None = None,
    forms: Sequence[tuple[str, str, int]] = (),
    card: dict[str, Any] | None = None,
) -> CounterSession:
    """A reception with fixed times (auto_now_add fields are set afterwards), its ticket and its forms."""
    group, _ = CounterGroup.objects.get_or_create(
        code="shimin", defaults={"name": "市民課", "ticket_prefix": "A"}
    )
    issued_ticket = None
    if ticket is not None:
        issued, called = ticket
        issued_ticket = Ticket.objects.create(
            group=group,
            day=opened.date(),
            number=Ticket.objects.filter(group=group, day=opened.date()).count() + 1,
            status=TicketStatus.CALLED if called else TicketStatus.WAITING,
            called_to=counter if called else None,
        )
        Ticket.objects.filter(pk=issued_ticket.pk).update(issued_at=issued, called_at=called)
    session = CounterSession.objects.create(
        counter=counter,
        clerk=clerk,
        ticket=issued_ticket,
        reception_no=no,
        state=state,
        progress=progress,
        procedures=list(procedures),
        finished_at=finished,
        card=card or {},
    )
    CounterSession.objects.filter(pk=session.pk).update(opened_at=opened)
    for order, (code, name, prefilled) in enumerate(forms):
        SessionForm.objects.create(
            session=session, form_code=code, form_version=1, name=name, signing="paper", order=order,
            prefilled=prefilled,
        )  # fmt: skip
    session.refresh_from_db()
    return session


@pytest.fixture
def counters() -> tuple[Counter, Counter]:
    return (
        CounterFactory.create(code="a", name="市民課 1番窓口"),
        CounterFactory.create(code="b", name="保険年金課 窓口"),
    )


@pytest.fixture
def day_visits(counters: tuple[Counter, Counter]) -> list[CounterSession]:
    """Seven receptions on 2026-11-02 (JST) and two just outside it.

    waiting (min): 10, 20, 30, 5, 2 — handling (min): 20, 30, 45, 10."""
    a, b = counters
    clerk = UserFactory.create(display_name="窓口 花子")
    juminido = ("juminido", "住民異動届", 12)
    return [
        visit(a, "R1", opened=at(DAY, 9, 10), finished=at(DAY, 9, 30), ticket=(at(DAY, 9, 0), at(DAY, 9, 10)),
              procedures=[TENNYU, KOKUHO], clerk=clerk, forms=[juminido, ("kokuho", "国保資格取得届", 8)]),
        visit(a, "R2", opened=at(DAY, 9, 40), finished=at(DAY, 10, 10), ticket=(at(DAY, 9, 20), at(DAY, 9, 40)),
              procedures=[TENNYU, TENNYU], progress=Progress.LINKED, forms=[("juminido", "住民異動届", 10)]),
        visit(a, "R3", opened=at(DAY, 10, 5), finished=at(DAY, 10, 50), procedures=[TENNYU, JIDOU],
              progress=Progress.DONE, forms=[("juminido", "住民異動届", 11), ("jidou", "児童手当認定請求書", 5)]),
        visit(b, "R4", opened=at(DAY, 10, 30), ticket=(at(DAY, 10, 0), at(DAY, 10, 30)), procedures=[KOKUHO],
              state=SessionState.FORMS, progress=Progress.RECEIVED, forms=[("kokuho", "国保資格取得届", 9)],
              card={"name": "住民 太郎", "address": "窓口市中央町"}),
        visit(b, "R5", opened=at(DAY, 11, 0), ticket=(at(DAY, 10, 55), at(DAY, 11, 0)), procedures=[KOKUHO],
              state=SessionState.RETURNED, progress=Progress.RETURNED),
        visit(b, "R6", opened=at(DAY, 14, 0), finished=at(DAY, 14, 10), ticket=(at(DAY, 13, 58), at(DAY, 14, 0)),
              progress=Progress.RETURNED),
        # 07:30 JST is still the previous day in UTC: the day is the city's.
        visit(a, "R7", opened=at(DAY, 7, 30), state=SessionState.RECEPTION, progress=Progress.RECEIVED,
              ticket=(at(DAY, 7, 25), None)),
        visit(a, "OUT1", opened=at(DAY - dt.timedelta(days=1), 23, 59), finished=at(DAY, 0, 20),
              forms=[juminido]),
        visit(a, "OUT2", opened=at(DAY + dt.timedelta(days=1), 0, 0), finished=at(DAY + dt.timedelta(days=1), 0, 5)),
    ]  # fmt: skip


@pytest.fixture
def supervisor_client() -> Client:
    client = Client()
    assert client.login(username=UserFactory.create(roles=["supervisor"]).username, password=PASSWORD)
    return client


def parse_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM, for Excel"
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def by_code(rows: Sequence[stats.FiguresRow]) -> dict[str, stats.Figures]:
    return {row.code: row.figures for row in rows}


# --- Figures -------------------------------------------------------------------------------------------


def test_durations_average_median_and_p90_by_nearest_rank() -> None:
    assert stats.Durations.of([]) == stats.Durations(count=0)
    assert stats.Durations.of([30, 2, 10, 20, 5]) == stats.Durations(count=5, average=13.4, median=10, p90=30)
    ten = stats.Durations.of(list(range(1, 11)))
    assert (ten.median, ten.p90) == (5.5, 9)


def test_day_summary_totals(day_visits: list[CounterSession], django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(5):
        summary = stats.day_summary(day=DAY)
    total = summary.total
    assert (total.visits, total.finished, total.returned) == (7, 4, 2)
    assert total.progress == {
        "received": 2,
        "confirmed": 0,
        "output": 1,
        "linked": 1,
        "done": 1,
        "returned": 2,
    }
    assert total.waiting == stats.Durations(count=5, average=13.4, median=10, p90=30)
    assert total.handling == stats.Durations(count=4, average=26.25, median=25, p90=45)
    # Forms of finished receptions only (R4's form is not counted): 5 forms, 12+8+10+11+5 fields.
    assert (total.forms, total.prefilled) == (5, 46)


def test_day_summary_per_counter_procedure_and_hour(day_visits: list[CounterSession]) -> None:
    summary = stats.day_summary(day=DAY)
    assert [(row.code, row.name) for row in summary.by_counter] == [
        ("a", "市民課 1番窓口"),
        ("b", "保険年金課 窓口"),
    ]
    a, b = by_code(summary.by_counter).values()
    assert (a.visits, a.finished, a.returned, a.forms, a.prefilled) == (4, 3, 0, 5, 46)
    assert (a.waiting.median, a.handling.median, a.handling.count) == (15, 30, 3)
    assert (b.visits, b.finished, b.returned, b.forms, b.prefilled) == (3, 1, 2, 0, 0)
    assert (b.waiting.count, b.waiting.median, b.handling.median) == (3, 5, 10)

    # A reception counts once for each procedure it has (R2 lists 転入 twice: once).
    assert [row.code for row in summary.by_procedure] == ["kokuho", "tennyu", "jidou"]
    procedures = by_code(summary.by_procedure)
    assert summary.by_procedure[1].name == "転入届"
    tennyu, kokuho, jidou = procedures["tennyu"], procedures["kokuho"], procedures["jidou"]
    assert (tennyu.visits, tennyu.finished, tennyu.waiting.median, tennyu.handling.median) == (3, 3, 15, 30)
    assert (kokuho.visits, kokuho.finished, kokuho.returned, kokuho.waiting.median) == (3, 1, 1, 10)
    assert kokuho.progress["received"] == 1 and kokuho.progress["returned"] == 1
    assert (jidou.visits, jidou.handling.median) == (1, 45)
    assert tennyu.forms is None  # forms are not told apart by procedure

    assert {row.code: row.figures.visits for row in summary.by_hour} == {
        "07": 1,
        "09": 2,
        "10": 2,
        "11": 1,
        "14": 1,
    }
    assert by_code(summary.by_hour)["09"].handling.median == 25

    assert [(f.form_code, f.count, f.prefilled) for f in summary.forms] == [
        ("juminido", 3, 33),
        ("jidou", 1, 5),
        ("kokuho", 1, 8),
    ]


def test_an_empty_day_has_zeros_and_no_times(counters: tuple[Counter, Counter]) -> None:
    summary = stats.day_summary(day=DAY)
    assert summary.total.visits == 0 and summary.total.waiting.average is None
    assert (summary.total.forms, summary.total.prefilled) == (0, 0)
    assert summary.by_counter == summary.by_procedure == summary.by_hour == summary.forms == []


def test_progress_board_lists_reception_numbers_in_order(
    day_visits: list[CounterSession], django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(1):
        board = stats.progress_board(day=DAY)
    assert [row.reception_no for row in board] == ["R7", "R1", "R2", "R3", "R4", "R5", "R6"]
    r1 = board[1]
    assert (r1.counter, r1.clerk, r1.state_label, r1.progress_label) == (
        "市民課 1番窓口",
        "窓口 花子",
        "完了",
        "出力済",
    )
    assert r1.opened_at == at(DAY, 9, 10) and r1.finished_at == at(DAY, 9, 30)


def test_month_summary(day_visits: list[CounterSession], counters: tuple[Counter, Counter]) -> None:
    a, _ = counters
    later = dt.date(2026, 11, 15)
    visit(a, "R8", opened=at(later, 10, 0), finished=at(later, 10, 12), ticket=(at(later, 9, 50), at(later, 10, 0)),
          procedures=[TENNYU], progress=Progress.DONE, forms=[("juminido", "住民異動届", 7)])  # fmt: skip
    visit(a, "DEC", opened=at(dt.date(2026, 12, 1), 0, 30))
    visit(a, "OCT", opened=at(dt.date(2026, 10, 31), 23, 59))

    summary = stats.month_summary(year=2026, month=11)
    assert [row.code for row in summary.by_day][:3] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert len(summary.by_day) == 30 and summary.by_day[1].name == "月"
    days = by_code(summary.by_day)
    # OUT1 opened 2026-11-01 23:59 JST, OUT2 on 11-03: they are days of this month too.
    assert {code: f.visits for code, f in days.items() if f.visits} == {
        "2026-11-01": 1, "2026-11-02": 7, "2026-11-03": 1, "2026-11-15": 1,
    }  # fmt: skip
    assert days["2026-11-02"].waiting.median == 10 and days["2026-11-02"].forms == 5
    assert days["2026-11-15"].handling.median == 12 and days["2026-11-15"].prefilled == 7
    assert days["2026-11-20"].forms == 0 and days["2026-11-20"].waiting.count == 0

    total = summary.total
    assert (total.visits, total.finished, total.returned) == (10, 7, 2)
    assert total.waiting.count == 6 and total.waiting.median == 10
    assert total.handling.count == 7 and total.handling.median == 20  # 5, 10, 12, 20, 21, 30, 45
    assert (total.forms, total.prefilled) == (7, 65)
    assert by_code(summary.by_counter)["a"].visits == 7
    assert by_code(summary.by_procedure)["tennyu"].visits == 4


# --- CSV -----------------------------------------------------------------------------------------------


def test_day_csv(day_visits: list[CounterSession]) -> None:
    rows = parse_csv(stats.day_summary_csv(stats.day_summary(day=DAY)))
    header = rows[0]
    assert header[:6] == ["区分", "コード", "名称", "受付件数", "窓口完了", "差戻し"]
    assert "進捗:連携済" in header and header[-2:] == ["作成申請書数", "自動記入項目数"]
    table = [dict(zip(header, row, strict=True)) for row in rows[1:]]
    total = table[0]
    assert (total["区分"], total["コード"], total["受付件数"], total["窓口完了"], total["差戻し"]) == (
        "全体", "2026-11-02", "7", "4", "2",
    )  # fmt: skip
    assert total["進捗:受付"] == "2" and total["進捗:完了"] == "1"
    assert (total["待ち件数"], total["平均待ち時間(分)"], total["待ち時間中央値(分)"], total["待ち時間90%値(分)"]) == (
        "5", "13.4", "10.0", "30.0",
    )  # fmt: skip
    assert (total["平均処理時間(分)"], total["処理時間中央値(分)"]) == ("26.3", "25.0")
    assert (total["作成申請書数"], total["自動記入項目数"]) == ("5", "46")
    sections = [(row["区分"], row["コード"]) for row in table]
    assert sections == [
        ("全体", "2026-11-02"), ("窓口", "a"), ("窓口", "b"),
        ("手続", "kokuho"), ("手続", "tennyu"), ("手続", "jidou"),
        ("時間帯", "07"), ("時間帯", "09"), ("時間帯", "10"), ("時間帯", "11"), ("時間帯", "14"),
        ("様式", "juminido"), ("様式", "jidou"), ("様式", "kokuho"),
    ]  # fmt: skip
    tennyu = table[4]
    assert (tennyu["名称"], tennyu["受付件数"], tennyu["作成申請書数"]) == ("転入届", "3", "")
    juminido = table[11]
    assert (juminido["名称"], juminido["受付件数"], juminido["作成申請書数"], juminido["自動記入項目数"]) == (
        "住民異動届", "", "3", "33",
    )  # fmt: skip


def test_month_csv(day_visits: list[CounterSession]) -> None:
    rows = parse_csv(stats.month_summary_csv(stats.month_summary(year=2026, month=11)))
    header, table = rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    days = [row for row in table if row["区分"] == "日"]
    assert len(days) == 30 and days[1]["コード"] == "2026-11-02" and days[1]["受付件数"] == "7"
    assert days[4]["受付件数"] == "0" and days[4]["平均待ち時間(分)"] == ""
    (total,) = [row for row in table if row["区分"] == "合計"]
    assert (total["コード"], total["受付件数"], total["作成申請書数"]) == ("2026-11", "9", "6")
    assert [row["コード"] for row in table if row["区分"] == "窓口"] == ["a", "b"]
    assert header == stats.figures_header()


def test_board_csv_and_formula_like_text(
    day_visits: list[CounterSession], counters: tuple[Counter, Counter]
) -> None:
    a, _ = counters
    Counter.objects.filter(pk=a.pk).update(name="=HYPERLINK(1)")
    rows = parse_csv(stats.progress_board_csv(stats.progress_board(day=DAY)))
    assert rows[0] == [
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
    assert rows[2] == [
        "R1", "a", "'=HYPERLINK(1)", "窓口 花子", "完了", "出力済", "2026-11-02 09:10:00", "2026-11-02 09:30:00", "",
    ]  # fmt: skip
    assert [row[0] for row in rows[1:]] == ["R7", "R1", "R2", "R3", "R4", "R5", "R6"]


# --- Pages ---------------------------------------------------------------------------------------------


def test_pages_need_a_supervisor(clerk_client: Client) -> None:
    urls = [
        reverse("stats:today"),
        reverse("stats:day", args=["2026-11-02"]),
        reverse("stats:day_csv", args=["2026-11-02"]),
        reverse("stats:board_csv", args=["2026-11-02"]),
        reverse("stats:month", args=["2026", "11"]),
        reverse("stats:month_csv", args=["2026", "11"]),
    ]
    assert urls[0] == "/counters/stats/" and urls[5] == "/counters/stats/month/2026/11.csv"
    for url in urls:
        response = Client().get(url)
        assert response.status_code == 302 and "/accounts/login" in response["Location"], url
        assert clerk_client.get(url).status_code == 403, url


def test_day_page(supervisor_client: Client, day_visits: list[CounterSession]) -> None:
    page = supervisor_client.get(reverse("stats:day", args=["2026-11-02"])).content.decode()
    for no in ("R1", "R4", "R7"):
        assert f'data-reception="{no}"' in page
    assert 'data-reception="OUT1"' not in page
    assert "住民 太郎" not in page and "窓口市中央町" not in page  # reception numbers only
    assert '<title id="chart-hours-title">時間帯ごとの受付件数</title>' in page
    assert 'aria-labelledby="chart-counters-title chart-counters-desc"' in page
    assert page.count("<rect ") == 11 + 4  # 8時台 … 17時台 and 7時台; 2 counters × 2 series
    assert 'data-progress="returned">2<' in page
    assert reverse("stats:day_csv", args=["2026-11-02"]) in page
    assert reverse("stats:board_csv", args=["2026-11-02"]) in page
    assert reverse("stats:month", args=["2026", "11"]) in page


def test_today_page_and_nav_link(supervisor_client: Client) -> None:
    response = supervisor_client.get(reverse("stats:today"))
    page = response.content.decode()
    assert response.status_code == 200 and "本日の受付" in page
    assert f'href="{reverse("stats:today")}">統計</a>' in page


def test_month_page(supervisor_client: Client, day_visits: list[CounterSession]) -> None:
    page = supervisor_client.get(reverse("stats:month", args=["2026", "11"])).content.decode()
    assert "2026年11月の集計" in page
    assert '<title id="chart-days-title">日ごとの受付件数</title>' in page
    assert page.count('class="bar series-0"') == 30 + 2
    assert reverse("stats:day", args=["2026-11-30"]) in page
    assert (
        reverse("stats:month", args=["2026", "12"]) in page
        and reverse("stats:month", args=["2026", "10"]) in page
    )


def test_csv_downloads(supervisor_client: Client, day_visits: list[CounterSession]) -> None:
    response = supervisor_client.get(reverse("stats:day_csv", args=["2026-11-02"]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="madoguchi-stats-20261102.csv"'
    assert parse_csv(response.content)[1][:4] == ["全体", "2026-11-02", "", "7"]
    board = parse_csv(supervisor_client.get(reverse("stats:board_csv", args=["2026-11-02"])).content)
    assert len(board) == 8
    month = parse_csv(supervisor_client.get(reverse("stats:month_csv", args=["2026", "11"])).content)
    assert len(month) == 1 + 30 + 1 + 2 + 3 + 3


@pytest.mark.parametrize(
    "url",
    ["/counters/stats/day/2026-02-30/", "/counters/stats/month/2026/13/", "/counters/stats/day/2026-1-2/"],
)
def test_impossible_days_are_not_found(supervisor_client: Client, url: str) -> None:
    assert supervisor_client.get(url).status_code == 404


# --- Progress: 連携済 from the export, 完了 / 差戻し from the RPA results ----------------------------------


def export_rows(reception_no: str, kind: str) -> None:
    outbox_put(
        reception_no=reception_no, exports=[ExportRows(kind, f"{kind}@1", ["受付番号"], [[reception_no]])]
    )


def test_a_written_export_makes_its_receptions_linked(
    local_storage: LocalFolderStorage, counters: tuple[Counter, Counter]
) -> None:
    a, _ = counters
    r1 = visit(a, "R1", opened=at(DAY, 9, 0))
    r2 = visit(a, "R2", opened=at(DAY, 9, 5))
    r3 = visit(a, "R3", opened=at(DAY, 9, 10), progress=Progress.DONE)
    r4 = visit(a, "R4", opened=at(DAY, 9, 15))  # printed, its row not exported yet
    for session in (r1, r2, r3):
        export_rows(session.reception_no, "juminido")
    export_rows("R1", "kokuho")

    assert len(export_flush(storage=local_storage)) == 1  # one batch: a file per kind, one manifest
    progress = dict(CounterSession.objects.values_list("reception_no", "progress"))
    assert progress == {"R1": "linked", "R2": "linked", "R3": "done", "R4": "output"}
    r1.refresh_from_db()
    assert r1.linked_at is not None and r1.version == 2
    (event,) = SessionEvent.objects.filter(session=r1)
    assert (event.kind, event.state, event.counter_id) == ("progress", "finished", a.pk)
    assert event.detail == {"progress": "linked", "from": "output", "via": "export"}
    (audited,) = AuditEvent.objects.filter(action=AuditAction.SESSION, target_ref="R1")
    assert (audited.actor_label, audited.target_type) == ("system", "reception")
    assert audited.detail == {
        "kind": "progress",
        "state": "finished",
        "progress": "linked",
        "from": "output",
        "via": "export",
    }
    assert not SessionEvent.objects.filter(session__in=[r3, r4]).exists()

    # Once linked, a reception stays: a second notice changes nothing.
    assert stats.receptions_linked(["R1", "R2", "R3"]) == 0
    assert SessionEvent.objects.count() == 2
    r2.refresh_from_db()
    assert r2.progress == "linked"


def test_a_failing_subscriber_does_not_stop_the_export(
    local_storage: LocalFolderStorage, counters: tuple[Counter, Counter], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(reception_nos: list[str]) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(hooks, "_export_written", [broken, stats.receptions_linked])
    visit(counters[0], "R1", opened=at(DAY, 9, 0))
    export_rows("R1", "juminido")
    assert len(export_flush(storage=local_storage)) == 1
    assert CounterSession.objects.get(reception_no="R1").progress == Progress.LINKED


def test_subscribing_twice_notifies_once(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Iterable[str]] = []
    monkeypatch.setattr(hooks, "_export_written", [])
    hooks.export_written_subscribe(seen.append)
    hooks.export_written_subscribe(seen.append)
    hooks.export_written_notify(["R1"])
    assert seen == [["R1"]]


def test_reception_progress_set_done_and_returned(counters: tuple[Counter, Counter]) -> None:
    rpa = UserFactory.create(roles=["system_admin"])
    r1 = visit(counters[0], "R1", opened=at(DAY, 9, 0), progress=Progress.LINKED)
    r2 = visit(counters[0], "R2", opened=at(DAY, 9, 5), progress=Progress.LINKED)

    done = stats.reception_progress_set(reception_no="R1", progress=Progress.DONE)
    assert done.progress == "done" and done.version == r1.version + 1
    returned = stats.reception_progress_set(
        reception_no="R2",
        progress=Progress.RETURNED,
        actor=rpa,
        reason="転入前住所の番地が基幹システムと一致しません",
    )
    returned.refresh_from_db()
    assert returned.progress == "returned" and returned.return_reason.startswith("転入前住所")
    (event,) = SessionEvent.objects.filter(session=r2)
    assert (event.kind, event.actor, event.state) == ("progress", rpa, r2.state)
    assert event.detail == {"progress": "returned", "from": "linked", "reason": returned.return_reason}
    (audited,) = AuditEvent.objects.filter(action=AuditAction.SESSION, target_ref="R2")
    assert (
        audited.actor == rpa and "reason" not in audited.detail and audited.detail["progress"] == "returned"
    )

    # The same result twice is one change.
    stats.reception_progress_set(reception_no="R1", progress=Progress.DONE)
    assert SessionEvent.objects.filter(session=r1).count() == 1
    assert AuditEvent.objects.filter(target_ref="R1").count() == 1
    assert CounterSession.objects.get(reception_no="R1").version == r1.version + 1
    with pytest.raises(ValueError, match="unknown progress"):
        stats.reception_progress_set(reception_no="R1", progress="archived")
    with pytest.raises(CounterSession.DoesNotExist):
        stats.reception_progress_set(reception_no="NOPE", progress=Progress.DONE)


def test_integrations_does_not_import_counters() -> None:
    folder = Path(__file__).resolve().parents[2] / "integrations"
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(name.split(".")[0] == "counters" for name in names), path
