"""What an agent cannot do, and where a card PIN never goes.

An agent acts only as its own terminal, for its own counter and jobs; a signed request works once (a replay is
refused), and a forged, stale, unknown or disabled one not at all. A PIN typed on the tablet travels in exactly
one place — the agent's broker message, sealed for that agent with a time limit of 60 s — and is in no table,
log or result store.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from celery.backends.base import DisabledBackend
from django.test import Client
from django.urls import reverse

from counters import services as counters
from counters.models import Counter, CounterSession, SessionState
from devices import signing
from devices.agent.app import agent_app
from devices.models import AgentEvent, PrintJob, PrintKind, PrintStatus, Terminal
from devices.services import CARD_KINDS, card_read_request
from madoguchi.accounts.models import User
from madoguchi.celery import app as celery_app
from tests.conftest import database_dump
from tests.factories import CounterFactory, TerminalFactory

from .broker_messages import QueueMessages, card_secret, message_text
from .signed import signed_post

CARD = {
    "name": "窓口　花子",
    "address": "東京都千代田区霞が関一丁目1番1号",
    "birth_date": "1985-04-01",
    "sex": "2",
    "individual_number": "123456789018",
}


def _standalone(value: str) -> re.Pattern[str]:
    # The value on its own, not four digits inside a timestamp, a hash or a token.
    return re.compile(rf"(?<![0-9A-Za-z]){value}(?![0-9A-Za-z])")


def _reading(counter: Counter, clerk: User) -> CounterSession:
    """A session of ``counter`` whose card read was sent to the agent."""
    session = counters.session_card_request(
        session=counters.counter_session_open(counter=counter, clerk=clerk), clerk=clerk
    )
    CounterSession.objects.filter(pk=session.pk).update(card={**session.card, "status": "reading"})
    session.refresh_from_db()
    return session


# --- one terminal, its own counter and jobs ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_card_read_from_another_terminal_is_refused_and_changes_nothing(clerk: User) -> None:
    session = _reading(CounterFactory.create(), clerk)
    before = CounterSession.objects.filter(pk=session.pk).values().get()
    intruder = CounterFactory.create().terminal
    assert intruder is not None
    event = {"type": "card.read", "id": uuid.uuid4().hex, "request": session.card["request"], "card": CARD}
    response = signed_post(Client(), intruder, event)
    assert response.status_code == 403
    assert (
        response.json()["error"] == f"terminal {intruder.code} does not drive counter {session.counter.code}"
    )
    assert CounterSession.objects.filter(pk=session.pk).values().get() == before
    assert not AgentEvent.objects.exists()


@pytest.mark.django_db
def test_a_print_report_for_another_terminals_job_is_refused() -> None:
    job = PrintJob.objects.create(
        terminal=TerminalFactory.create(), kind=PrintKind.RECEIPT, title="番号札", receipt={"lines": []}
    )
    response = signed_post(Client(), TerminalFactory.create(), {"type": "print.done", "job": job.pk})
    assert response.status_code == 403 and "does not belong to terminal" in response.json()["error"]
    job.refresh_from_db()
    assert job.status == PrintStatus.QUEUED


# --- signatures, over real HTTP ------------------------------------------------------------------------------------


@pytest.fixture
def events_url(live_server: Any) -> str:
    return f"{live_server.url}{reverse('devices:agent_event')}"


def _heartbeat() -> bytes:
    return json.dumps(
        {
            "type": "heartbeat",
            "agent": {"version": "1", "started_at": "2026-11-21T09:00:00+09:00"},
            "devices": [{"kind": "card_reader", "driver": "simulated", "status": "ok", "detail": ""}],
        }
    ).encode()


def _headers(terminal: Terminal, body: bytes, **override: str) -> dict[str, str]:
    headers = signing.signed_headers(
        terminal=terminal.code, secret=terminal.secret, method="POST", path="/devices/api/events", body=body
    )
    return {**headers, **override}


def _unchanged(terminal: Terminal) -> None:
    terminal.refresh_from_db()
    assert terminal.last_heartbeat_at is None and not terminal.devices.exists()


@pytest.mark.django_db(transaction=True)
def test_a_replayed_request_is_refused_the_second_time(events_url: str) -> None:
    terminal = TerminalFactory.create()
    body = _heartbeat()
    headers = _headers(terminal, body)
    first = requests.post(events_url, data=body, headers=headers, timeout=10)
    assert first.status_code == 200, first.text
    terminal.refresh_from_db()
    seen = terminal.last_heartbeat_at
    replayed = requests.post(events_url, data=body, headers=headers, timeout=10)
    assert replayed.status_code == 403 and replayed.json()["error"] == "request already used (replayed nonce)"
    terminal.refresh_from_db()
    assert terminal.last_heartbeat_at == seen
    # The agent's client signs every attempt afresh: a retry is a new request and passes.
    assert (
        requests.post(events_url, data=body, headers=_headers(terminal, body), timeout=10).status_code == 200
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("forged", "unknown terminal or bad signature"),
        ("tampered body", "unknown terminal or bad signature"),
        ("stale", "more than 300 s off the server's clock"),
        ("no nonce", "missing or malformed X-Madoguchi-Nonce header"),
        ("unknown terminal", "unknown terminal or bad signature"),
        ("disabled", "is disabled"),
    ],
)
def test_forged_stale_unknown_and_disabled_requests_are_refused(
    events_url: str, case: str, error: str
) -> None:
    terminal = TerminalFactory.create()
    body = _heartbeat()
    headers = _headers(terminal, body)
    sent = body
    if case == "forged":
        headers = signing.signed_headers(
            terminal=terminal.code, secret="guessed", method="POST", path="/devices/api/events", body=body
        )
    elif case == "tampered body":
        sent = body.replace(b'"ok"', b'"error"')
    elif case == "stale":
        stale, nonce = str(int(time.time()) - signing.MAX_SKEW_SECONDS - 5), uuid.uuid4().hex
        headers = _headers(
            terminal,
            body,
            **{
                signing.HEADER_TIMESTAMP: stale,
                signing.HEADER_NONCE: nonce,
                signing.HEADER_SIGNATURE: signing.signature(
                    terminal.secret,
                    timestamp=stale,
                    nonce=nonce,
                    method="POST",
                    path="/devices/api/events",
                    body=body,
                ),
            },
        )
    elif case == "no nonce":
        del headers[signing.HEADER_NONCE]
    elif case == "unknown terminal":
        headers[signing.HEADER_TERMINAL] = "nobody"
    elif case == "disabled":
        Terminal.objects.filter(pk=terminal.pk).update(enabled=False)
    response = requests.post(events_url, data=sent, headers=headers, timeout=10)
    assert response.status_code == 403 and error in response.json()["error"]
    _unchanged(terminal)


@pytest.mark.django_db(transaction=True)
def test_a_disabled_terminal_cannot_fetch_its_print_jobs(live_server: Any) -> None:
    terminal = TerminalFactory.create(enabled=False)
    job = PrintJob.objects.create(
        terminal=terminal, kind=PrintKind.RECEIPT, title="番号札", receipt={"lines": []}
    )
    path = reverse("devices:print_job_receipt", args=[job.pk])
    headers = signing.signed_headers(
        terminal=terminal.code, secret=terminal.secret, method="GET", path=path, body=b""
    )
    response = requests.get(f"{live_server.url}{path}", headers=headers, timeout=10)
    assert response.status_code == 403 and "is disabled" in response.json()["error"]


# --- the PIN -------------------------------------------------------------------------------------------------------


@pytest.fixture
def counter() -> Iterator[Counter]:
    counter = CounterFactory.create(code="sec-1")
    yield counter


@pytest.mark.django_db
def test_the_pin_goes_only_into_the_agents_expiring_message(clerk: User, counter: Counter, caplog) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: every logger's records, at every level
    assert counter.terminal is not None
    session = counters.session_card_request(
        session=counters.counter_session_open(counter=counter, clerk=clerk), clerk=clerk
    )
    tablet = Client()
    code = counters.pairing_code_issue(counter=counter, clerk=None)
    assert tablet.post(reverse("tablet:pair"), {"counter": counter.code, "code": code}).status_code == 302
    before = database_dump()
    pin = next(f"{n:04d}" for n in range(7391, 9999) if not _standalone(f"{n:04d}").search(before))
    queue = QueueMessages(counter.terminal.queue)

    try:
        typed = tablet.post(
            reverse("tablet:pin"),
            json.dumps({"reception_no": session.reception_no, "version": session.version, "pin": pin}),
            content_type="application/json",
        )
        assert typed.status_code == 200, typed.content
        [message] = queue.new()
    finally:
        queue.drop_new()

    # The broker message carries the PIN only sealed for this terminal's agent — never in clear, even to whoever
    # reads the broker or its files — shows it to no monitor, and expires.
    headers = message["headers"]
    assert headers["task"] == "devices.agent.read_card"
    assert card_secret(message, terminal=counter.terminal.code, secret=counter.terminal.secret) == pin
    assert not _standalone(pin).search(message_text(message))
    assert "'sealed_pin': '****'" in headers["kwargsrepr"] and pin not in json.dumps(headers)
    # (card_secret checked the time limit sealed with it: within CARD_COMMAND_SECONDS of now.)

    # The agent reads the card and reports it (twice: its outbox resends an unconfirmed event unchanged).
    session.refresh_from_db()
    event = {"type": "card.read", "id": uuid.uuid4().hex, "request": session.card["request"], "card": CARD}
    for _attempt in range(2):
        response = signed_post(Client(), counter.terminal, event)
        assert response.status_code == 200, response.content
    session.refresh_from_db()
    assert session.state == SessionState.IDENTIFIED

    dump = database_dump()
    assert not _standalone(pin).search(dump)
    assert not _standalone(CARD["individual_number"]).search(
        dump
    )  # AgentEvent keeps the answer, not the event
    assert not _standalone(pin).search(caplog.text)
    assert not any(_standalone(pin).search(repr(record.args)) for record in caplog.records)
    # No result store keeps task arguments: results are ignored, on the server and in the agent.
    assert celery_app.conf.task_ignore_result and agent_app.conf.task_ignore_result
    assert isinstance(celery_app.backend, DisabledBackend)


@pytest.mark.django_db
@pytest.mark.parametrize("kind", CARD_KINDS)
def test_every_card_kinds_secret_is_hidden_from_monitors(kind: str) -> None:
    terminal = TerminalFactory.create()
    queue = QueueMessages(terminal.queue)
    try:
        card_read_request(terminal=terminal, request_id="r1", kind=kind, pin="AB12CD34EF56")
        [message] = queue.new()
    finally:
        queue.drop_new()
    assert card_secret(message, terminal=terminal.code, secret=terminal.secret) == "AB12CD34EF56"
    assert "AB12CD34EF56" not in message_text(message) and "****" in message["headers"]["kwargsrepr"]
    other = TerminalFactory.create()  # another terminal's agent cannot open it
    with pytest.raises(signing.SealBroken):
        card_secret(message, terminal=other.code, secret=other.secret)


def test_an_unknown_card_kind_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(ValueError, match="unknown card kind 'passport'"):
        card_read_request(terminal=Terminal(code="x"), request_id="r1", kind="passport", pin="1234")
