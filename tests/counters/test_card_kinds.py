"""Identification by the other ID cards: the driver's licence (PIN 1 on the tablet), the residence card (its number,
typed by the clerk from the card) and the My Number card by 照合番号B. What the clerk or the resident types goes only
into the agent's command, through the real (filesystem) broker; the card's data comes back as a signed event."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from counters import services
from counters.models import CounterSession, SessionEvent, SessionState
from devices import signing
from devices.agent import broker
from madoguchi.audit.models import AuditEvent
from tests.devices.broker_messages import card_secret, task_kwargs
from tests.factories import PASSWORD, CounterFactory, UserFactory

pytestmark = pytest.mark.django_db
RESIDENCE_NO = "AB12345678CD"
B_CODE = "85040120301234"


@pytest.fixture
def clerk():
    return UserFactory(roles=["clerk"])


@pytest.fixture
def counter():
    return CounterFactory.create()


@pytest.fixture
def commands(settings):
    """The card-read commands sent to the broker during the test, read back from the filesystem broker."""
    if not settings.CELERY_BROKER_URL.startswith("filesystem"):
        pytest.skip("this test reads the filesystem broker's message files")
    folder = Path(str(broker.broker_transport_options(settings.CELERY_BROKER_URL)["data_folder_in"]))
    before = set(folder.glob("*.msg"))
    sent: list[dict] = []

    def read() -> list[dict]:
        sent.clear()
        for path in sorted(set(folder.glob("*.msg")) - before):
            message = json.loads(path.read_text())
            if message["headers"].get("task") == "devices.agent.read_card":
                sent.append(message)
        return sent

    yield read
    for path in set(folder.glob("*.msg")) - before:
        path.unlink()  # no agent consumes these queues in the test


def _kwargs(message: dict, terminal) -> dict:
    """The command's arguments with its secret opened as the terminal's agent opens it (and in clear nowhere)."""
    return {
        **task_kwargs(message),
        "pin": card_secret(message, terminal=terminal.code, secret=terminal.secret),
    }


def _stored() -> str:
    rows = json.dumps(list(CounterSession.objects.values()), default=str, ensure_ascii=False)
    rows += json.dumps(list(SessionEvent.objects.values()), default=str, ensure_ascii=False)
    return rows + json.dumps(list(AuditEvent.objects.values()), default=str, ensure_ascii=False)


def _agent_post(terminal, event: dict):
    body = json.dumps(event, ensure_ascii=False).encode()
    path = reverse("devices:agent_event")
    headers = signing.signed_headers(
        terminal=terminal.code, secret=terminal.secret, method="POST", path=path, body=body
    )
    return Client().post(path, body, content_type="application/json", headers=headers)


def test_the_residence_card_number_goes_into_the_command_and_nowhere_else(clerk, counter, commands) -> None:
    session = services.counter_session_open(counter=counter, clerk=clerk)
    session = services.session_card_request(
        session=session, clerk=clerk, kind="residence", printed=RESIDENCE_NO.lower()
    )
    assert session.card["status"] == "reading" and not session.card["pin_requested"]
    [message] = commands()
    assert _kwargs(message, counter.terminal) == {
        "request_id": session.card["request"],
        "kind": "residence",
        "sealed_pin": task_kwargs(message)["sealed_pin"],
        "pin": RESIDENCE_NO,
    }
    assert RESIDENCE_NO not in json.dumps(message["headers"])
    assert RESIDENCE_NO not in _stored() and RESIDENCE_NO.lower() not in _stored()

    card = {
        "name": "NGUYEN VAN AN",
        "nationality": "ベトナム",
        "birth_date": "1996-07-14",
        "sex": "1",
        "address": "東京都新宿区西新宿二丁目8番1号",
        "card_number": RESIDENCE_NO,
        "status_of_residence": "技術・人文知識・国際業務",
        "period_end": "2028-07-14",
    }
    response = _agent_post(
        counter.terminal, {"type": "card.read", "request": session.card["request"], "card": card}
    )
    assert response.status_code == 200, response.content
    session.refresh_from_db()
    assert session.state == SessionState.IDENTIFIED and session.identified_by == "card"
    assert session.card["kind"] == "residence" and session.card["nationality"] == "ベトナム"
    assert session.card["shimei"] == "NGUYEN VAN AN" and session.card["sex"] == "男"
    assert RESIDENCE_NO not in _stored()  # the card's own number is not kept either


@pytest.mark.parametrize(
    ("kind", "printed", "reason"),
    [
        ("residence", "AB1234567CD", "英字2桁・数字8桁・英字2桁"),
        ("residence", "", "英字2桁・数字8桁・英字2桁"),
        ("mynumber_b", "8504012030123", "数字14桁"),
        ("mynumber_b", "8504012030123X", "数字14桁"),
        ("passport", "", "読み取れません"),
    ],
)
def test_a_malformed_card_key_is_refused_and_nothing_is_sent(
    clerk, counter, commands, kind, printed, reason
) -> None:
    session = services.counter_session_open(counter=counter, clerk=clerk)
    version = session.version
    with pytest.raises(services.SessionError, match=reason) as refused:
        services.session_card_request(session=session, clerk=clerk, kind=kind, printed=printed)
    if printed:
        assert printed not in str(refused.value)  # the message names the shape, never echoes the value
    session.refresh_from_db()
    assert session.version == version and session.card == {}
    assert commands() == []


def test_the_b_code_reads_the_my_number_card_without_the_tablet(clerk, counter, commands) -> None:
    session = services.counter_session_open(counter=counter, clerk=clerk)
    session = services.session_card_request(session=session, clerk=clerk, kind="mynumber_b", printed=B_CODE)
    [message] = commands()
    kwargs = _kwargs(message, counter.terminal)
    assert kwargs["kind"] == "mynumber_b" and kwargs["pin"] == B_CODE
    assert B_CODE not in _stored()


def test_the_licence_asks_for_pin_1_on_the_tablet_and_shows_the_kana(clerk, counter, commands) -> None:
    session = services.counter_session_open(counter=counter, clerk=clerk)
    session = services.session_card_request(session=session, clerk=clerk, kind="licence")
    assert session.card["pin_requested"] and commands() == []
    code = services.pairing_code_issue(counter=counter, clerk=None)
    pairing, token = services.tablet_pair(counter_code=counter.code, code=code)
    tablet = Client()
    tablet.cookies["madoguchi_tablet"] = token
    screen = tablet.get(reverse("tablet:screen"))
    assert "運転免許証の暗証番号1" in screen.content.decode()

    session.refresh_from_db()
    services.tablet_card_pin(session=session, pairing=pairing, pin="2580", version=session.version)
    [message] = commands()
    kwargs = _kwargs(message, counter.terminal)
    assert kwargs["kind"] == "licence" and kwargs["pin"] == "2580"
    response = _agent_post(
        counter.terminal,
        {
            "type": "card.read",
            "request": session.card["request"],
            "card": {
                "name": "免許　一郎",
                "kana": "メンキョ　イチロウ",
                "birth_date": "1970-01-02",
                "address": "大阪府",
            },
        },
    )
    assert response.status_code == 200, response.content
    session.refresh_from_db()
    assert session.card["kana"] == "メンキョ　イチロウ" and session.card["kind"] == "licence"
    assert '"2580"' not in _stored()


def test_the_desk_offers_the_other_cards(clerk, counter) -> None:
    client = Client()
    client.login(username=clerk.username, password=PASSWORD)
    session = services.counter_session_open(counter=counter, clerk=clerk)
    page = client.get(reverse("counters:session", args=[session.reception_no])).content.decode()
    assert 'data-testid="card-kind"' in page and "在留カード" in page
    response = client.post(
        reverse("counters:session_card", args=[session.reception_no]),
        {"kind": "residence", "printed": "nonsense", "version": session.version},
        follow=True,
    )
    assert "英字2桁・数字8桁・英字2桁" in response.content.decode()
    session.refresh_from_db()
    assert session.card == {}


def test_another_terminal_cannot_answer_a_residence_card_read(clerk, counter, commands) -> None:
    session = services.counter_session_open(counter=counter, clerk=clerk)
    session = services.session_card_request(
        session=session, clerk=clerk, kind="residence", printed=RESIDENCE_NO
    )
    other = CounterFactory.create().terminal
    response = _agent_post(
        other, {"type": "card.read", "request": session.card["request"], "card": {"name": "x"}}
    )
    assert response.status_code == 403
    session.refresh_from_db()
    assert session.state == SessionState.RECEPTION and session.card["status"] == "reading"


def test_an_unreadable_scan_from_the_agent_is_shown_to_the_clerk(clerk, counter) -> None:
    session = services.counter_session_open(counter=counter, clerk=clerk)
    response = _agent_post(
        counter.terminal, {"type": "qr.failed", "reason": "byte 3 is neither UTF-8 nor Shift_JIS"}
    )
    assert response.status_code == 200 and response.json()["status"] == "refused"
    client = Client()
    client.login(username=clerk.username, password=PASSWORD)
    page = client.get(reverse("counters:session", args=[session.reception_no])).content.decode()
    assert 'data-testid="qr-error"' in page and "byte 3 is neither UTF-8 nor Shift_JIS" in page
    session.refresh_from_db()
    assert session.state == SessionState.RECEPTION
    # A terminal with no session in reception is told so.
    idle = CounterFactory.create().terminal
    assert _agent_post(idle, {"type": "qr.failed", "reason": "x"}).status_code == 403
