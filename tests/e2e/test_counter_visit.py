"""A clerk's visit in a real browser: log in, open a session, find the resident, view the prefilled
住民異動届 as a PDF, finish; the counter's agent prints it and the screen shows it; the CSV row is exported."""

import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from counters.models import CounterSession
from tests.conftest import IVS_NAME
from tests.e2e.conftest import celery_argv
from tests.factories import PASSWORD, CounterFactory, TerminalFactory, atena
from tests.pdftools import pdf_fonts, pdf_text

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _wait_for(predicate, seconds: float, what: str, processes=()):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    logs = "\n".join(f"--- {p.name}\n{p.output()}" for p in processes)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def test_clerk_visit_end_to_end(
    browser, live_server, spawn, clerk, small_city, starter_forms, tmp_path
) -> None:
    from playwright.sync_api import expect

    terminal = TerminalFactory(code=f"e2e{int(time.time() * 1000) % 10**9}")
    counter = CounterFactory(name="市民課 1番窓口", terminal=terminal)
    printed = tmp_path / "printed"
    agent = spawn(
        "agent",
        [sys.executable, "-m", "devices.agent"],
        MADOGUCHI_SERVER_URL=live_server.url,
        MADOGUCHI_TERMINAL_CODE=terminal.code,
        MADOGUCHI_TERMINAL_SECRET=terminal.secret,
        MADOGUCHI_PRINTED_DIR=str(printed),
        MADOGUCHI_AGENT_STATE_DIR=str(tmp_path / "agent"),
        # The agent runs without Django: a database setting it could not use must not matter.
        DATABASE_URL="unusable://the-agent-has-no-database",
    )
    worker = spawn(
        "worker",
        celery_argv(
            "-A",
            "madoguchi",
            "worker",
            "-Q",
            "exports",
            "-P",
            "solo",
            "-n",
            f"e2e-{terminal.code}@%h",
            "--without-gossip",
            "--without-mingle",
        ),
    )

    context = browser.new_context(locale="ja-JP")
    page = context.new_page()
    page.goto(f"{live_server.url}/")
    page.get_by_label("ユーザー名").fill(clerk.username)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()

    page.get_by_label("窓口").select_option(counter.code)
    page.get_by_role("button", name="受付を開始").click()
    reception_no = page.get_by_test_id("reception-no").inner_text()
    expect(page.get_by_test_id("state")).to_have_text("受付")

    page.get_by_label("氏名 (カナ・漢字)").fill("かさい")
    page.get_by_role("button", name="検索").click()
    row = page.get_by_role("row").filter(has_text=atena(1))
    expect(row).to_contain_text(IVS_NAME)
    row.get_by_role("button", name="この人を選択").click()
    expect(page.get_by_test_id("state")).to_have_text("本人確認")
    expect(page.get_by_test_id("resident-name")).to_have_text(f"{IVS_NAME}　花子")

    with page.expect_popup() as popup_info:
        page.get_by_test_id("form-pdf").click()
    popup = popup_info.value
    pdf = context.request.get(popup.url)
    assert pdf.headers["content-type"] == "application/pdf"
    pdf_path = tmp_path / "form.pdf"
    pdf_path.write_bytes(pdf.body())
    assert "IPAmjMincho" in pdf_fonts(pdf_path)
    assert IVS_NAME in pdf_text(pdf_path)
    popup.close()

    page.get_by_role("button", name="受付を完了して印刷").click()
    expect(page.get_by_test_id("state")).to_have_text("完了")
    # The agent prints; the screen learns it by long polling, without a reload.
    expect(page.get_by_test_id("print-status")).to_have_text("印刷済", timeout=60_000)

    job = CounterSession.objects.get(reception_no=reception_no).print_job
    assert job is not None
    printed_pdf = printed / f"job-{job.pk}.pdf"
    assert IVS_NAME in pdf_text(printed_pdf)

    outbound = Path(settings.OBJECT_STORAGE["LOCAL_ROOT"]) / settings.OUTBOUND_PREFIX
    csv_file = _wait_for(lambda: next(outbound.rglob("*.csv"), None), 60, "the exported CSV", (agent, worker))
    data = csv_file.read_bytes()
    assert reception_no.encode() in data and IVS_NAME.encode() in data
    assert data.endswith(b"\r\n")
    context.close()
