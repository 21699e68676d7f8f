"""The resident tablet through Django's test client: pairing, what it shows when, the PIN, the review in the
resident's language, the signature and confirmation, live updates — and every forged, stale or foreign request
refused with a clear message and no change."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import connections
from django.test import AsyncClient, Client
from django.urls import reverse
from django.utils import timezone

from counters import services
from counters.models import Counter, CounterSession, SessionForm, SessionState, TabletPairing
from counters.views_tablet import CHROME, COOKIE, LANGUAGE_NAMES, ReviewRow, ShownValue, _review_row
from forms_engine.schema import FieldSpec, Translation
from forms_engine.selectors import form_version_current
from tests.conftest import database_dump
from tests.devices.broker_messages import card_secret, message_text, task_kwargs
from tests.factories import CounterFactory

pytestmark = pytest.mark.django_db

MJ_NAME = "葛\U000e0100西"  # 葛 + VS17 (U+E0100): must reach the screen byte-exact
PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture
def counter() -> Counter:
    return CounterFactory.create(code="shimin-1", name="市民課 1番窓口")


def _paired(counter: Counter, client: Client | None = None) -> tuple[Client, str]:
    """A test client paired with ``counter`` through the pairing page, and its token."""
    client = client or Client()
    code = services.pairing_code_issue(counter=counter, clerk=None)
    response = client.post(reverse("tablet:pair"), {"counter": counter.code, "code": code})
    assert response.status_code == 302 and response["Location"] == reverse("tablet:index")
    return client, response.cookies[COOKIE].value


def _confirming(
    counter: Counter, *, codes: tuple[str, ...] = ("juminido",), number: int = 1
) -> CounterSession:
    """A session of ``counter`` waiting for the resident (住民確認) with the starter forms ``codes``."""
    session = CounterSession.objects.create(
        counter=counter,
        reception_no=f"{timezone.localdate():%Y%m%d}-{counter.code}-{number:04d}",
        state=SessionState.CONFIRMING,
        state_changed_at=timezone.now(),
        version=7,
    )
    for order, code in enumerate(codes):
        version = form_version_current(code=code)
        data: dict[str, Any] = {}
        if code == "juminido":
            data = {
                "todokedenin_shimei": f"{MJ_NAME}　花子",
                "ido_jiyu": "転入",
                "shin_katagaki": "",
                "idousha": [
                    {"shimei": f"{MJ_NAME}　花子", "kana": "カサイ　ハナコ", "birth_date": "1985-04-01"}
                ],
            }
        SessionForm.objects.create(
            session=session,
            form_code=code,
            form_version=version.number,
            name=version.template.name,
            signing=version.spec().signing,
            order=order,
            data=data,
        )
    return session


def _post(client: Client, name: str, session: CounterSession, **values: Any) -> Any:
    body = {"reception_no": session.reception_no, "version": session.version, **values}
    return client.post(reverse(f"tablet:{name}"), json.dumps(body), content_type="application/json")


def _unchanged(session: CounterSession) -> None:
    before = session.version
    session.refresh_from_db()
    assert session.version == before


# --- pairing -------------------------------------------------------------------------------------------------------


def test_an_unpaired_tablet_sees_the_pairing_page_prefilled_from_the_qr_code(counter) -> None:
    page = Client().get(reverse("tablet:index"))
    assert page.status_code == 200 and 'data-testid="pair-form"' in page.content.decode()
    prefilled = Client().get(reverse("tablet:pair"), {"counter": counter.code}).content.decode()
    assert f'value="{counter.code}"' in prefilled
    assert "staff" not in prefilled and "ログアウト" not in prefilled  # not the staff base page


def test_pairing_sets_a_strict_http_only_cookie_and_shows_the_counter(counter) -> None:
    client = Client()
    code = services.pairing_code_issue(counter=counter, clerk=None)
    response = client.post(
        reverse("tablet:pair"), {"counter": counter.code, "code": code, "label": "1番窓口 左"}, secure=True
    )
    assert response.status_code == 302
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["secure"]
    assert int(cookie["max-age"]) > 300 * 24 * 3600
    pairing = TabletPairing.objects.get()
    assert pairing.counter == counter and pairing.label == "1番窓口 左"
    assert cookie.value not in pairing.token_hash  # only the hash is kept
    page = client.get(reverse("tablet:index"), secure=True).content.decode()
    assert counter.name in page and 'data-testid="welcome-heading"' in page
    # Over plain HTTP the cookie is not marked Secure (a demo on localhost).
    code = services.pairing_code_issue(counter=counter, clerk=None)
    plain = Client().post(reverse("tablet:pair"), {"counter": counter.code, "code": code})
    assert plain.cookies[COOKIE]["httponly"] and not plain.cookies[COOKIE]["secure"]


def test_a_wrong_expired_or_used_code_is_refused(counter) -> None:
    code = services.pairing_code_issue(counter=counter, clerk=None)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    refused = Client().post(reverse("tablet:pair"), {"counter": counter.code, "code": wrong})
    assert refused.status_code == 400 and COOKIE not in refused.cookies
    assert "ペアリングコードが正しくないか" in refused.content.decode()

    assert Client().post(reverse("tablet:pair"), {"counter": counter.code, "code": code}).status_code == 302
    used = Client().post(reverse("tablet:pair"), {"counter": counter.code, "code": code})
    assert used.status_code == 400  # a code pairs one tablet only

    code = services.pairing_code_issue(counter=counter, clerk=None)
    Counter.objects.filter(pk=counter.pk).update(
        pairing_code_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    expired = Client().post(reverse("tablet:pair"), {"counter": counter.code, "code": code})
    assert expired.status_code == 400
    assert TabletPairing.objects.count() == 1


def test_a_revoked_or_unknown_tablet_goes_back_to_the_pairing_page(counter) -> None:
    client, _ = _paired(counter)
    services.tablet_revoke(pairing=TabletPairing.objects.get(), actor=None)
    page = client.get(reverse("tablet:index"))
    assert "ペアリングは解除されたか" in page.content.decode()
    assert page.cookies[COOKIE].value == ""  # the cookie is dropped
    assert client.get(reverse("tablet:screen")).status_code == 403

    forged = Client()
    forged.cookies[COOKIE] = "not-a-token"
    assert 'data-testid="pair-form"' in forged.get(reverse("tablet:index")).content.decode()


# --- what the tablet shows -------------------------------------------------------------------------------------------


def test_the_tablet_shows_only_its_counters_session_waiting_for_the_resident(counter, starter_forms) -> None:
    client, _ = _paired(counter)
    stranger, _ = _paired(CounterFactory.create())
    session = _confirming(counter)

    page = client.get(reverse("tablet:index")).content.decode()
    assert 'data-testid="review-heading"' in page and MJ_NAME in page
    assert f'data-reception-no="{session.reception_no}"' in page and 'data-version="7"' in page

    elsewhere = stranger.get(reverse("tablet:screen")).content.decode()
    assert 'data-screen="welcome"' in elsewhere and MJ_NAME not in elsewhere

    # A session the clerk is still working on is not the resident's to see.
    CounterSession.objects.filter(pk=session.pk).update(state=SessionState.FORMS)
    screen = client.get(reverse("tablet:screen")).content.decode()
    assert 'data-screen="welcome"' in screen and MJ_NAME not in screen


def test_the_review_translates_labels_and_keeps_values_byte_exact(counter, starter_forms) -> None:
    client, _ = _paired(counter)
    session = _confirming(counter, codes=("juminido", "kokumin_nenkin"))
    assert _post(client, "language", session, language="en").status_code == 200
    session.refresh_from_db()
    assert session.language == "en" and session.version == 8

    response = client.get(reverse("tablet:screen"))
    assert response["Cache-Control"].startswith("no-store") or "no-store" in response["Cache-Control"]
    screen = response.content.decode()
    assert 'lang="en"' in screen
    assert "Name of the person notifying" in screen and "届出人氏名" not in screen
    assert "Persons moving" in screen and '<th scope="col">Date of birth</th>' in screen
    value = f'<span class="mj value" data-testid="value">{MJ_NAME}　花子</span>'
    assert value.encode() in response.content  # the variation selector kept, nothing normalised
    assert '<span class="mj value" data-testid="value">転入</span>' in screen  # values are not translated
    assert "(blank)" in screen and "Form 1/2" in screen and "Form 2/2" in screen
    assert "You will sign this form on paper" in screen  # 国民年金 is signed on paper
    assert 'data-testid="signature-canvas"' in screen  # 住民異動届 is signed on the tablet
    pressed = re.search(r'aria-pressed="true"\s+data-testid="lang-([^"]+)"', screen)
    assert 'data-testid="lang-ne"' in screen and pressed is not None and pressed.group(1) == "en"

    page = client.get(reverse("tablet:index")).content.decode()
    assert '<html lang="en">' in page

    session.refresh_from_db()
    assert _post(client, "language", session, language="ko").status_code == 200
    screen = client.get(reverse("tablet:screen")).content.decode()
    assert "신고인 성명" in screen and CHROME["ko"]["next"] in screen and 'lang="ko"' in screen


def test_a_label_without_a_translation_falls_back_to_japanese() -> None:
    spec = FieldSpec(
        key="tsusho", label="通称", type="mj_text", translations={"en": Translation(label="Alias")}
    )
    assert _review_row(spec, MJ_NAME, "ko", CHROME["ko"]) == ReviewRow("通称", ShownValue("text", MJ_NAME))
    assert _review_row(spec, "", "en", CHROME["en"]) == ReviewRow("Alias", ShownValue("blank", "(blank)"))
    flag = FieldSpec(key="doi", label="同意", type="checkbox")
    assert _review_row(flag, True, "pt", CHROME["pt"]).value == ShownValue("flag", "Sim")


def test_the_words_of_the_tablet_exist_in_every_language() -> None:
    assert tuple(LANGUAGE_NAMES) == services.LANGUAGES
    assert set(CHROME) == set(services.LANGUAGES)
    for language, words in CHROME.items():
        assert words.keys() == CHROME["ja"].keys(), language
        assert all(words.values()), language


# --- the resident's actions ------------------------------------------------------------------------------------------


def test_confirming_with_a_signature_moves_the_session_on_once(counter, starter_forms) -> None:
    client, _ = _paired(counter)
    session = _confirming(counter)
    response = _post(client, "confirm", session, signature=PNG)
    assert response.status_code == 200, response.content
    assert CHROME["ja"]["thanks_heading"] in response.json()["html"]
    confirmed = CounterSession.objects.get(pk=session.pk)
    assert confirmed.state == SessionState.OUTPUT and confirmed.signature == PNG
    assert confirmed.version == response.json()["version"] == 8

    replay = _post(client, "confirm", session, signature=PNG)  # the same request again
    assert replay.status_code == 409 and replay.json()["error"] == CHROME["ja"]["stale"]
    assert CounterSession.objects.get(pk=session.pk).version == 8

    # The session left the tablet: the next screen is the welcome, with nothing of it.
    screen = client.get(reverse("tablet:screen")).content.decode()
    assert 'data-screen="welcome"' in screen and MJ_NAME not in screen


def test_a_missing_or_broken_signature_is_refused_with_no_change(counter, starter_forms) -> None:
    client, _ = _paired(counter)
    session = _confirming(counter)
    _post(client, "language", session, language="vi")
    session.refresh_from_db()
    missing = _post(client, "confirm", session, signature="")
    assert missing.status_code == 400 and missing.json()["error"] == CHROME["vi"]["sign_needed"]
    broken = _post(client, "confirm", session, signature="data:image/png;base64,AAAA")
    assert broken.status_code == 400 and broken.json()["error"] == CHROME["vi"]["error"]
    _unchanged(session)
    assert session.state == SessionState.CONFIRMING and session.signature == ""


def test_a_stale_version_is_refused_with_no_change(counter, starter_forms) -> None:
    client, _ = _paired(counter)
    session = _confirming(counter)
    stale = client.post(
        reverse("tablet:language"),
        json.dumps({"reception_no": session.reception_no, "version": session.version - 1, "language": "pt"}),
        content_type="application/json",
    )
    assert stale.status_code == 409 and stale.json() == {"error": CHROME["ja"]["stale"]}
    stale_confirm = client.post(
        reverse("tablet:confirm"),
        json.dumps({"reception_no": session.reception_no, "version": 3, "signature": PNG}),
        content_type="application/json",
    )
    assert stale_confirm.status_code == 409
    _unchanged(session)
    assert session.language == "ja" and session.state == SessionState.CONFIRMING

    # The clerk took the forms back: a post made on the old screen is stale too.
    CounterSession.objects.filter(pk=session.pk).update(state=SessionState.FORMS)
    assert _post(client, "confirm", session, signature=PNG).status_code == 409
    _unchanged(session)


def test_another_counters_tablet_is_refused(counter, starter_forms) -> None:
    session = _confirming(counter)
    stranger, _ = _paired(CounterFactory.create())
    for name, values in [
        ("language", {"language": "en"}),
        ("confirm", {"signature": PNG}),
        ("pin", {"pin": "1234"}),
    ]:
        response = _post(stranger, name, session, **values)
        assert response.status_code == 403, name
        assert MJ_NAME not in response.content.decode()
    forged = _post(stranger, "confirm", session, signature=PNG, reception_no="20260101-nowhere-0001")
    assert forged.status_code == 403
    _unchanged(session)
    assert session.state == SessionState.CONFIRMING and session.language == "ja"


def test_posts_need_a_paired_tablet_and_the_csrf_token(counter, starter_forms) -> None:
    session = _confirming(counter)
    assert _post(Client(), "confirm", session, signature=PNG).status_code == 403

    client = Client(enforce_csrf_checks=True)
    page = client.get(reverse("tablet:index")).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    code = services.pairing_code_issue(counter=counter, clerk=None)
    without = client.post(reverse("tablet:pair"), {"counter": counter.code, "code": code})
    assert without.status_code == 403 and not TabletPairing.objects.exists()
    paired = client.post(
        reverse("tablet:pair"), {"counter": counter.code, "code": code, "csrfmiddlewaretoken": token.group(1)}
    )
    assert paired.status_code == 302
    assert _post(client, "language", session, language="en").status_code == 403  # no X-CSRFToken header
    _unchanged(session)
    meta = re.search(
        r'name="csrf-token" content="([^"]+)"', client.get(reverse("tablet:index")).content.decode()
    )
    assert meta is not None
    ok = client.post(
        reverse("tablet:language"),
        json.dumps({"reception_no": session.reception_no, "version": session.version, "language": "en"}),
        content_type="application/json",
        headers={"X-CSRFToken": meta.group(1)},
    )
    assert ok.status_code == 200


# --- the card PIN ----------------------------------------------------------------------------------------------------


def _standalone(pin: str) -> re.Pattern[str]:
    # The PIN as a value of its own, not four digits inside a timestamp, a hash or a token.
    return re.compile(rf"(?<![0-9A-Za-z]){pin}(?![0-9A-Za-z])")


class _Broker:
    """The messages waiting on a queue of the real broker: kombu's filesystem transport (files) or Redis (a list
    named after the queue)."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.redis = None
        if settings.CELERY_BROKER_URL.startswith("redis"):
            import redis

            self.redis = redis.Redis.from_url(settings.CELERY_BROKER_URL)

    def _files(self) -> list[Path]:
        folder = Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_out"]))
        return sorted(folder.glob(f"*.{self.queue}.msg"))

    def messages(self) -> list[str]:
        if self.redis is not None:
            return [
                raw.decode() if isinstance(raw, bytes) else str(raw)
                for raw in self.redis.lrange(self.queue, 0, -1)
            ]
        return [path.read_text() for path in self._files()]

    def drop(self, texts: list[str]) -> None:
        """Remove these messages: no agent consumes the test's queue."""
        if self.redis is not None:
            for text in texts:
                self.redis.lrem(self.queue, 1, text)
            return
        for path in self._files():
            if path.read_text() in texts:
                path.unlink()


def test_the_pin_goes_to_the_agent_command_and_nowhere_else(clerk, counter, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    session = services.session_card_request(
        session=services.counter_session_open(counter=counter, clerk=clerk), clerk=clerk
    )
    client, _ = _paired(counter)
    page = client.get(reverse("tablet:index")).content.decode()
    assert 'data-testid="pin-pad"' in page and 'data-testid="pin-submit"' in page

    before = database_dump()
    pin = next(f"{n:04d}" for n in range(7391, 9999) if not _standalone(f"{n:04d}").search(before))
    broker = _Broker(counter.terminal.queue)
    already = set(broker.messages())

    bad = _post(client, "pin", session, pin="12a4")
    assert bad.status_code == 400 and bad.json()["error"] == CHROME["ja"]["pin_invalid"]
    _unchanged(session)

    response = _post(client, "pin", session, pin=pin)
    assert response.status_code == 200, response.content
    assert pin not in response.content.decode()
    assert CHROME["ja"]["card_reading"] in response.json()["html"]
    session.refresh_from_db()
    assert session.card["status"] == "reading" and not session.card["pin_requested"]

    assert not _standalone(pin).search(database_dump())
    assert not _standalone(pin).search(caplog.text)
    assert not any(_standalone(pin).search(str(record.args)) for record in caplog.records)

    # The one place the PIN is: the agent's command in the broker, sealed for that agent and hidden from Celery's
    # task representation.
    sent = [text for text in broker.messages() if text not in already]
    assert len(sent) == 1
    try:
        message = json.loads(sent[0])
        headers = message["headers"]
        assert headers["task"] == "devices.agent.read_card"
        assert "****" in headers["kwargsrepr"] and pin not in headers["kwargsrepr"]
        assert pin not in json.dumps(headers)
        terminal = session.counter.terminal
        assert terminal is not None
        assert card_secret(message, terminal=terminal.code, secret=terminal.secret) == pin
        assert task_kwargs(message)["request_id"] == session.card["request"]
        assert not _standalone(pin).search(message_text(message))
    finally:
        broker.drop(sent)

    # The pad is not offered again until the clerk asks: a second PIN for the same request is stale.
    again = _post(client, "pin", session, pin=pin)
    assert again.status_code == 409
    _unchanged(session)


# --- live updates ----------------------------------------------------------------------------------------------------


def _snapshot_frame(cookies: dict[str, str]) -> tuple[Any, dict[str, Any] | None]:
    """The response of /tablet/events and the data of its first frame (the snapshot), read through the ASGI
    client, where the stream is endless."""

    async def read() -> tuple[Any, dict[str, Any] | None]:
        client = AsyncClient()
        for name, value in cookies.items():
            client.cookies[name] = value
        response = await client.get(reverse("tablet:events"))
        if not response.streaming:
            await sync_to_async(connections.close_all)()
            return response, None
        chunks = aiter(response.streaming_content)  # type: ignore[attr-defined]
        try:
            async for chunk in chunks:
                text = chunk.decode() if isinstance(chunk, bytes) else str(chunk)
                data = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
                if data:
                    assert "event: snapshot" in text
                    return response, json.loads(data[0])
        finally:
            await chunks.aclose()
            await sync_to_async(connections.close_all)()
        return response, None

    # A thread of its own: an event loop another test left running in this one (Playwright's) does not matter.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(async_to_sync(read)).result()


@pytest.mark.django_db(transaction=True)  # the snapshot runs in a thread of its own, on its own connection
def test_the_event_stream_needs_a_paired_tablet_and_starts_with_a_snapshot(counter) -> None:
    refused, _ = _snapshot_frame({})
    assert refused.status_code == 403
    refused, _ = _snapshot_frame({COOKIE: "forged"})
    assert refused.status_code == 403

    _, token = _paired(counter)
    session = _confirming(counter, codes=())
    response, snapshot = _snapshot_frame({COOKIE: token})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/event-stream")
    assert snapshot == {
        "reception_no": session.reception_no,
        "version": 7,
        "state": "confirming",
        "card_probe": [None, None],
    }

    # Another counter's tablet hears nothing of it.
    _, stranger = _paired(CounterFactory.create())
    assert _snapshot_frame({COOKIE: stranger})[1] == {}

    CounterSession.objects.filter(pk=session.pk).update(state=SessionState.OUTPUT)
    assert _snapshot_frame({COOKIE: token})[1] == {}


def test_the_idle_time_reaches_the_page(counter, settings) -> None:
    settings.MADOGUCHI_TABLET_IDLE_SECONDS = 45
    client, _ = _paired(counter)
    page = client.get(reverse("tablet:index")).content.decode()
    assert 'data-idle-seconds="45"' in page and 'id="welcome-template"' in page
