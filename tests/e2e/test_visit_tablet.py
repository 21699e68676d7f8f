"""The counter visit with the resident tablet in real browsers: two browser contexts, the clerk's and the tablet's,
the counter agent (simulated My Number card reader and A4 printer) and a Celery worker on the render and export
queues as separate processes. A 転入 of a household of three identified by the card (PIN typed on the tablet),
through the tablet's review and signature, printing and the export; a 住民票 certificate request for a resident
found by search; a tablet of another counter refused when it asks for this session. axe-core checks the clerk's
and the tablet's pages on the way (no serious or critical violations), and each major step leaves a screenshot
under var/test-artifacts/e2e/<test>/ (MADOGUCHI_TEST_ARTIFACTS overrides the folder)."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from counters.models import CounterSession, SessionState
from tests.conftest import IVS_NAME, database_dump
from tests.e2e.axe import assert_accessible
from tests.e2e.conftest import ROOT, celery_argv
from tests.factories import PASSWORD, CounterFactory, TerminalFactory, atena
from tests.pdftools import pdf_text

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CARD = {
    "kind": "mynumber",
    "name": "窓口　太郎",
    "address": "大阪府大阪市北区中之島一丁目3番20号",
    "birth_date": "1984-06-15",
    "sex": "1",
    "individual_number": "123456789018",
    "pin": "4321",
}
SLOW = 60_000  # ms: SSE reconnects every 2 s under the live server, the worker renders PDFs


def _wait_for(predicate: Callable[[], Any], seconds: float, what: str, processes: tuple = ()) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    logs = "\n".join(f"--- {p.name}\n{p.output()}" for p in processes)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


@pytest.fixture
def navigation(starter_forms: None) -> None:
    from counters.navigation import navigation_seed_load

    navigation_seed_load()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """``shots(page, "step")`` saves ``NN-step.png`` in this test's artifact folder."""
    base = Path(os.environ.get("MADOGUCHI_TEST_ARTIFACTS") or ROOT / "var" / "test-artifacts" / "e2e")
    folder = base / re.sub(r"[^\w.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    count = [0]

    def shot(page: Any, step: str) -> Path:
        count[0] += 1
        path = folder / f"{count[0]:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return shot


@dataclass
class Counter:
    counter: Any
    agent: Any
    worker: Any
    printed: Path


@pytest.fixture
def desk(live_server, spawn, tmp_path: Path, settings) -> Counter:
    """A counter with its terminal, the agent (card from CARD) and a worker on the render and export queues."""
    # The worker stores the print job's PDF under its MEDIA_ROOT (VAR_DIR/media; no environment setting of its
    # own), and the live server hands it to the agent: it must read it there, not in the per-test media folder.
    settings.MEDIA_ROOT = str(Path(settings.VAR_DIR) / "media")
    terminal = TerminalFactory(code=f"e2e{int(time.time() * 1000) % 10**9}")
    counter = CounterFactory(code=f"shimin-{terminal.code}", name="市民課 1番窓口", terminal=terminal)
    card = tmp_path / "card.json"
    card.write_text(json.dumps(CARD, ensure_ascii=False), encoding="utf-8")
    printed = tmp_path / "printed"
    agent = spawn(
        "agent",
        [sys.executable, "-m", "devices.agent"],
        MADOGUCHI_SERVER_URL=live_server.url,
        MADOGUCHI_TERMINAL_CODE=terminal.code,
        MADOGUCHI_TERMINAL_SECRET=terminal.secret,
        MADOGUCHI_PRINTED_DIR=str(printed),
        MADOGUCHI_AGENT_STATE_DIR=str(tmp_path / "agent"),
        MADOGUCHI_CARD_READER="simulated",
        MADOGUCHI_SIMULATED_CARD=str(card),
        DATABASE_URL="unusable://the-agent-has-no-database",
    )
    worker = spawn(
        "worker",
        celery_argv(
            "-A",
            "madoguchi",
            "worker",
            "-Q",
            "render,exports",
            "-P",
            "solo",
            "-n",
            f"e2e-{terminal.code}@%h",
            "--without-gossip",
            "--without-mingle",
        ),
        MADOGUCHI_EXPORT_FLUSH_ROWS="1",  # flush as soon as a reception is finished
    )
    return Counter(counter=counter, agent=agent, worker=worker, printed=printed)


@pytest.fixture
def contexts(browser) -> Iterator[Callable[[], Any]]:
    opened: list[Any] = []

    refused: list[str] = []  # what the pages' Content-Security-Policy blocked: nothing may be

    def new() -> Any:
        context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
        context.set_default_timeout(20_000)
        context.on(
            "console",
            lambda message: (
                refused.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        opened.append(context)
        return context

    yield new
    for context in opened:
        context.close()
    assert refused == []


def _login(page: Any, live_server, clerk) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("ユーザー名").fill(clerk.username)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_load_state()


def _pair_tablet(clerk_page: Any, tablet: Any, live_server, counter, shot=None) -> None:
    clerk_page.goto(f"{live_server.url}/desk/{counter.code}/")
    clerk_page.get_by_test_id("pairing-new").click()
    code = clerk_page.get_by_test_id("pairing-code").inner_text().strip()
    assert clerk_page.get_by_test_id("pairing-counter").inner_text().strip() == counter.code
    tablet.goto(f"{live_server.url}/tablet/")
    if shot:
        assert_accessible(tablet, "the tablet's pairing page")
        shot(tablet, "tablet-pairing")
    tablet.get_by_test_id("pair-counter").fill(counter.code)
    tablet.get_by_test_id("pair-code").fill(code)
    tablet.get_by_test_id("pair-submit").click()
    from playwright.sync_api import expect

    expect(tablet.get_by_test_id("tablet-counter")).to_have_text(counter.name)


def _state(page: Any, label: str) -> None:
    from playwright.sync_api import expect

    try:
        expect(page.get_by_test_id("state")).to_have_text(label, timeout=SLOW)
    except AssertionError as error:
        shown = page.locator("ul.messages, [role=alert]").all_inner_texts()
        raise AssertionError(f"{error}\nthe page says: {shown}") from None
    # The page reloads itself (server-sent events) until it shows the session's newest version: typing into an
    # older one would be refused as stale.
    reception_no = page.get_by_test_id("reception-no").inner_text().strip()

    def current() -> bool:
        version = CounterSession.objects.get(reception_no=reception_no).version
        try:
            return page.locator("#live").get_attribute("data-version", timeout=2_000) == str(version)
        except Exception:  # reloading
            return False

    _wait_for(current, 30, f"the clerk screen to show the newest version of {reception_no}")
    page.wait_for_load_state()


def _walk_in(page: Any, live_server, counter) -> str:
    """Open a session without a ticket; returns its 受付番号. The desk reloads itself when its counter changes, but
    never while a form is being sent, so the click lands on the new session's page."""
    page.get_by_test_id("walk-in").click()
    page.wait_for_url(re.compile(r"/sessions/"), timeout=30_000)
    _state(page, "受付")
    return page.get_by_test_id("reception-no").inner_text().strip()


def _save_interview(page: Any) -> None:
    page.get_by_test_id("interview-save").click()
    _state(page, "聞き取り")


def _fill_form(page: Any, form: str, values: Mapping[str, str | None]) -> None:
    """Type the values into the form's fields (text, date or choice; None: the first choice unless one is
    chosen already) and save it."""
    details = page.get_by_test_id(f"form-{form}")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    for key, value in values.items():
        field = details.locator(f'[name="f_{key}"]')
        if field.evaluate("e => e.tagName") == "SELECT":
            if value is None:
                if not field.input_value():
                    field.select_option(index=1)
            else:
                field.select_option(value)
        else:
            field.fill(value)
    details.get_by_test_id(f"save-{form}").click()
    page.wait_for_load_state()
    errors = page.locator(".messages li.error")
    assert errors.count() == 0, errors.all_inner_texts()


def _tablet_review_and_sign(tablet: Any, shot: Callable[[Any, str], Path], prefix: str) -> None:
    """The resident goes through every form on the tablet, signs if asked, and confirms."""
    from playwright.sync_api import expect

    expect(tablet.get_by_test_id("review-heading")).to_be_visible(timeout=SLOW)
    assert_accessible(tablet, "the tablet's review screen")
    shot(tablet, f"{prefix}-tablet-review")
    steps = tablet.get_by_test_id("review-form").count()
    assert steps >= 1
    for _ in range(steps):
        tablet.locator(".review-form:not([hidden])").get_by_test_id("review-next").click()
    confirm = tablet.get_by_test_id("confirm-step")
    expect(confirm).to_be_visible()
    canvas = tablet.get_by_test_id("signature-canvas")
    if canvas.count():
        box = canvas.bounding_box()
        assert box is not None
        x, y = box["x"], box["y"] + box["height"] / 2
        tablet.mouse.move(x + 40, y)
        tablet.mouse.down()
        for step in range(1, 20):
            tablet.mouse.move(x + 40 + step * 15, y + (25 if step % 2 else -25), steps=3)
        tablet.mouse.up()
    assert_accessible(tablet, "the tablet's signature and confirmation step")
    shot(tablet, f"{prefix}-tablet-signature")
    confirm.get_by_test_id("confirm-button").click()
    expect(tablet.get_by_test_id("thanks-heading")).to_be_visible()
    shot(tablet, f"{prefix}-tablet-thanks")


def _finish_and_print(page: Any, desk: Counter, shot, reception_no: str, prefix: str) -> CounterSession:
    from playwright.sync_api import expect

    _state(page, "出力")
    expect(page.get_by_test_id("signature")).to_be_visible()
    assert_accessible(page, "the session page, output")
    shot(page, f"{prefix}-output")
    page.get_by_test_id("finish").click()
    _state(page, "完了")
    try:
        expect(page.get_by_test_id("print-status")).to_have_text("印刷済", timeout=90_000)
    except AssertionError as error:
        logs = "\n".join(f"--- {p.name}\n{p.output()}" for p in (desk.agent, desk.worker))
        raise AssertionError(f"{error}\n{logs}") from None
    assert_accessible(page, "the session page, finished")
    shot(page, f"{prefix}-printed")
    session = CounterSession.objects.get(reception_no=reception_no)
    assert session.print_job is not None
    printed = desk.printed / f"job-{session.print_job.pk}.pdf"
    assert printed.exists(), list(desk.printed.glob("*"))
    return session


def _printed(desk: Counter, session: CounterSession) -> Path:
    assert session.print_job is not None
    return desk.printed / f"job-{session.print_job.pk}.pdf"


def test_tennyu_household_of_three_with_card_signature_print_and_export(
    browser, live_server, contexts, desk, clerk, navigation, shots
) -> None:
    from playwright.sync_api import expect

    counter = desk.counter
    clerk_page = contexts().new_page()
    tablet = contexts().new_page()
    _login(clerk_page, live_server, clerk)

    clerk_page.goto(f"{live_server.url}/desk/{counter.code}/")
    assert_accessible(clerk_page, "the clerk's desk page")
    shots(clerk_page, "desk")
    _pair_tablet(clerk_page, tablet, live_server, counter, shots)
    shots(clerk_page, "desk-pairing-code")
    shots(tablet, "tablet-welcome")

    reception_no = _walk_in(clerk_page, live_server, counter)
    assert_accessible(clerk_page, "the session page, reception")
    shots(clerk_page, "reception")

    # The card: the clerk asks for it, the resident types the PIN on the tablet, the agent reads it.
    clerk_page.get_by_test_id("card-read").click()
    expect(clerk_page.get_by_test_id("card-status")).to_contain_text("暗証番号")
    expect(tablet.get_by_test_id("pin-pad")).to_be_visible(timeout=SLOW)
    tablet.get_by_test_id(f"pin-key-{CARD['pin'][0]}").click()  # typing starts before the reader has answered
    # The agent reads the card's tries left without spending one; the pad shows them as they arrive (pushed),
    # and keeps the digit already typed; the clerk sees them too.
    expect(tablet.get_by_test_id("card-message")).to_have_text("あと 3 回入力できます。", timeout=SLOW)
    expect(tablet.get_by_test_id("pin-display")).to_contain_text("1/4")
    expect(clerk_page.get_by_test_id("card-status")).to_contain_text("暗証番号の残り 3 回", timeout=SLOW)
    assert_accessible(tablet, "the tablet's PIN pad")
    shots(tablet, "tablet-pin-pad")
    for digit in CARD["pin"][1:]:
        tablet.get_by_test_id(f"pin-key-{digit}").click()
    expect(tablet.get_by_test_id("pin-submit")).to_be_enabled()
    shots(tablet, "tablet-pin-typed")
    tablet.get_by_test_id("pin-submit").click()
    try:
        _state(clerk_page, "本人確認")
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- agent\n{desk.agent.output()}") from None
    expect(clerk_page.get_by_test_id("resident-name")).to_have_text(CARD["name"])
    assert CARD["individual_number"] not in clerk_page.content()
    assert CARD["individual_number"] not in tablet.content() and CARD["pin"] not in tablet.content()
    shots(clerk_page, "identified-by-card")

    # The interview: 転入, the two others of the household moving in with him.
    clerk_page.get_by_test_id("event-tennyu").check()
    clerk_page.get_by_test_id("answer-kokuho-yes").check()
    clerk_page.get_by_test_id("answer-inkan-no").check()
    for n, (shi, mei, birth, zokugara) in enumerate(
        [("窓口", "花子", "1986-02-03", "妻"), ("窓口", "一太", "2018-05-05", "子")], start=1
    ):
        clerk_page.get_by_test_id(f"companion-{n}-shi").fill(shi)
        clerk_page.get_by_test_id(f"companion-{n}-mei").fill(mei)
        clerk_page.get_by_test_id(f"companion-{n}-birth").fill(birth)
        clerk_page.get_by_test_id(f"companion-{n}-zokugara").fill(zokugara)
    assert_accessible(clerk_page, "the session page, interview")
    shots(clerk_page, "interview")
    _save_interview(clerk_page)
    procedures = clerk_page.get_by_test_id("procedures")
    expect(procedures).to_contain_text("児童手当")
    shots(clerk_page, "procedures")

    clerk_page.get_by_test_id("prepare").click()
    _state(clerk_page, "申請書作成")
    assert_accessible(clerk_page, "the session page, forms")
    shots(clerk_page, "forms")
    # The new address in this city is what no card or record holds: the clerk types it, with the rest.
    new_address = "東京都千代田区霞が関一丁目1番1号"
    for form, values in [
        ("juminido", {"shin_jusho": new_address}),
        (
            "kokuho_ido",
            {
                "ido_bi": "2026-11-20",
                "todokedenin_kankei": "本人",
                "shin_jusho": new_address,
                "shin_setainushi": CARD["name"],
            },
        ),
        ("jido_teate", {"seikyusha_nenkin": "国民年金（自営業など）", "seikyusha_jusho": new_address}),
        (
            "kodomo_iryo",
            {"hogosha_kankei": "父", "hoken_shubetsu": "国民健康保険", "shinseisha_jusho": new_address},
        ),
    ]:
        _fill_form(clerk_page, form, values)
    shots(clerk_page, "forms-filled")
    clerk_page.get_by_test_id("to-tablet").click()
    try:
        _state(clerk_page, "住民確認")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{clerk_page.locator('.messages').all_inner_texts()}") from None
    shots(clerk_page, "confirming")

    # A tablet of another counter: it never shows this session, and asking for it is refused.
    other = CounterFactory(name="保険年金課 2番窓口")
    clerk_other = contexts().new_page()
    _login(clerk_other, live_server, clerk)
    stranger = contexts().new_page()
    _pair_tablet(clerk_other, stranger, live_server, other)
    expect(stranger.get_by_test_id("welcome-heading")).to_be_visible()
    assert reception_no not in stranger.content()
    version = CounterSession.objects.get(reception_no=reception_no).version
    for url, body in [
        ("/tablet/language", {"language": "en"}),
        ("/tablet/pin", {"pin": "1234"}),
        ("/tablet/confirm", {"signature": ""}),
    ]:
        answer = stranger.evaluate(
            """async ([url, body]) => {
                const csrf = document.querySelector('meta[name="csrf-token"]').content;
                const response = await fetch(url, {method: "POST", credentials: "same-origin",
                    headers: {"Content-Type": "application/json", "X-CSRFToken": csrf}, body: JSON.stringify(body)});
                return {status: response.status, text: await response.text()};
            }""",
            [url, {"reception_no": reception_no, "version": version, **body}],
        )
        assert answer["status"] == 403, (url, answer)
        assert CARD["name"] not in answer["text"]
    screen = stranger.evaluate(
        "async () => (await fetch('/tablet/screen', {credentials: 'same-origin'})).text()"
    )
    assert reception_no not in screen and "窓口　太郎" not in screen
    shots(stranger, "other-counter-tablet-refused")
    session = CounterSession.objects.get(reception_no=reception_no)
    assert (
        session.state == SessionState.CONFIRMING and session.language == "ja" and session.version == version
    )

    _tablet_review_and_sign(tablet, shots, "tennyu")
    session = _finish_and_print(clerk_page, desk, shots, reception_no, "tennyu")
    assert session.signature.startswith("data:image/png;base64,")
    text = pdf_text(_printed(desk, session))
    assert "窓口" in text and "一太" in text

    outbound = Path(settings.OBJECT_STORAGE["LOCAL_ROOT"]) / settings.OUTBOUND_PREFIX

    def exported() -> dict[str, bytes] | None:
        # A batch is there once its manifest is (written last).
        manifests = list(outbound.rglob("*.manifest.json")) if outbound.exists() else []
        files = {p.name: p.read_bytes() for m in manifests for p in m.parent.rglob("*") if p.is_file()}
        return files if any(reception_no.encode() in data for data in files.values()) else None

    files = _wait_for(exported, 60, "the exported batch", (desk.agent, desk.worker))
    by_kind = {name.split("_", 1)[1].rsplit("_v", 1)[0]: data for name, data in files.items() if "_" in name}
    assert "窓口".encode() in by_kind["juminido"]
    # The standard 住民異動届: a row per person moving (the household of three); the card face with the
    # individual number read from the card, which the database holds only sealed.
    assert by_kind["std_jumin_ido"].count(reception_no.encode()) == 3
    assert CARD["individual_number"].encode() in by_kind["std_kojin_bango_card"]
    assert f"pdf/{reception_no}.pdf" in files[next(n for n in files if n.endswith(".manifest.json"))].decode()
    assert CARD["individual_number"] not in database_dump()


def test_juminhyo_certificate_request_through_the_tablet(
    browser, live_server, contexts, desk, clerk, navigation, small_city, shots
) -> None:
    from playwright.sync_api import expect

    counter = desk.counter
    clerk_page = contexts().new_page()
    tablet = contexts().new_page()
    _login(clerk_page, live_server, clerk)
    _pair_tablet(clerk_page, tablet, live_server, counter)

    reception_no = _walk_in(clerk_page, live_server, counter)
    clerk_page.get_by_label("氏名 (カナ・漢字)").fill("かさい")
    clerk_page.get_by_role("button", name="検索").click()
    row = clerk_page.get_by_role("row").filter(has_text=atena(1))
    expect(row).to_contain_text(IVS_NAME)
    assert_accessible(clerk_page, "the session page, reception with search results")
    shots(clerk_page, "search-results")
    row.get_by_role("button", name="この人を選択").click()
    _state(clerk_page, "本人確認")
    expect(clerk_page.get_by_test_id("resident-name")).to_have_text(f"{IVS_NAME}　花子")
    shots(clerk_page, "identified")

    clerk_page.get_by_test_id("event-shomei").check()
    clerk_page.get_by_test_id("answer-certificate").select_option("juminhyo")
    _save_interview(clerk_page)
    expect(clerk_page.get_by_test_id("procedures")).to_contain_text("住民票")
    shots(clerk_page, "procedures")
    clerk_page.get_by_test_id("prepare").click()
    _state(clerk_page, "申請書作成")
    expect(clerk_page.get_by_test_id("form-juminhyo_seikyu")).to_be_visible()
    assert_accessible(clerk_page, "the session page, the certificate request form")
    shots(clerk_page, "form")
    _fill_form(
        clerk_page,
        "juminhyo_seikyu",
        {"shurui": None, "tsusu": "1", "setai_hani": None, "shiyo_mokuteki": None, "seikyusha_kankei": None},
    )
    shots(clerk_page, "form-filled")
    clerk_page.get_by_test_id("to-tablet").click()
    try:
        _state(clerk_page, "住民確認")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{clerk_page.locator('.messages').all_inner_texts()}") from None

    _tablet_review_and_sign(tablet, shots, "juminhyo")
    session = _finish_and_print(clerk_page, desk, shots, reception_no, "juminhyo")
    assert {form.form_code for form in session.forms.all()} == {"juminhyo_seikyu"}
    assert IVS_NAME in pdf_text(_printed(desk, session))
