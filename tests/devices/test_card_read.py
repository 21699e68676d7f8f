"""The agent's card-read command with the simulated My Number card, against a live server over signed HTTP: the
card's data reaches the session that asked; a wrong PIN counts down and locks like a real card; the PIN is in no
log, no event and no stored row; the command's representation for monitors hides it."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
from django.test import Client

from counters import services
from counters.models import CounterSession, SessionState
from devices.agent.app import probe_card, read_card
from devices.agent.drivers import CardFailed, SimulatedCardReader
from tests.factories import CounterFactory, UserFactory

from .broker_messages import QueueMessages, card_secret, message_text, sealed_for, task_kwargs
from .signed import signed_post

pytestmark = pytest.mark.django_db(transaction=True)
PIN = "4821"


@pytest.fixture
def card_file(tmp_path: Path) -> Path:
    path = tmp_path / "card.json"
    path.write_text(
        json.dumps(
            {
                "kind": "mynumber",
                "name": "転入　太郎",
                "address": "大阪府大阪市北区中之島一丁目3番20号",
                "birth_date": "1979-02-03",
                "sex": "1",
                "individual_number": "987654321098",
                "pin": PIN,
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    return path


def test_the_simulated_card_counts_wrong_pins_down_and_locks(card_file: Path, tmp_path: Path) -> None:
    reader = SimulatedCardReader(card_file, tmp_path / "state")
    for left in (2, 1, 0):
        with pytest.raises(CardFailed) as failed:
            reader.read(kind="mynumber", pin="0000")
        assert (failed.value.reason, failed.value.retries_left) == ("wrong_pin", left)
    with pytest.raises(CardFailed) as locked:
        reader.read(kind="mynumber", pin=PIN)  # even the right PIN: the card is locked
    assert locked.value.reason == "locked"


def test_the_right_pin_resets_the_counter_and_reads_the_card(card_file: Path, tmp_path: Path) -> None:
    reader = SimulatedCardReader(card_file, tmp_path / "state")
    with pytest.raises(CardFailed):
        reader.read(kind="mynumber", pin="1111")
    data = reader.read(kind="mynumber", pin=PIN)
    assert data["name"] == "転入　太郎" and data["individual_number"] == "987654321098"
    with pytest.raises(CardFailed) as failed:
        reader.read(kind="mynumber", pin="1111")
    assert failed.value.retries_left == 2


def test_an_empty_reader_and_a_broken_card_are_told_apart(tmp_path: Path) -> None:
    with pytest.raises(CardFailed) as empty:
        SimulatedCardReader(tmp_path / "missing.json", tmp_path).read(kind="mynumber", pin=PIN)
    assert empty.value.reason == "no_card"
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(CardFailed) as unknown:
        SimulatedCardReader(broken, tmp_path).read(kind="mynumber", pin=PIN)
    assert unknown.value.reason == "unknown_card"


@pytest.fixture
def reading_session(monkeypatch, live_server, tmp_path, card_file) -> CounterSession:
    counter = CounterFactory.create()
    clerk = UserFactory(roles=["clerk"])
    terminal = counter.terminal
    assert terminal is not None
    for name, value in {
        "MADOGUCHI_SERVER_URL": live_server.url,
        "MADOGUCHI_TERMINAL_CODE": terminal.code,
        "MADOGUCHI_TERMINAL_SECRET": terminal.secret,
        "MADOGUCHI_AGENT_STATE_DIR": str(tmp_path / "agent"),
        "MADOGUCHI_SIMULATED_CARD": str(card_file),
    }.items():
        monkeypatch.setenv(name, value)
    session = services.session_card_request(
        session=services.counter_session_open(counter=counter, clerk=clerk), clerk=clerk
    )
    CounterSession.objects.filter(pk=session.pk).update(card={**session.card, "status": "reading"})
    session.refresh_from_db()
    return session


def test_the_agent_reads_the_card_for_the_session_and_the_pin_goes_nowhere(
    reading_session: CounterSession, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    read_card(
        request_id=reading_session.card["request"], kind="mynumber", sealed_pin=_sealed(reading_session, PIN)
    )
    reading_session.refresh_from_db()
    assert reading_session.state == SessionState.IDENTIFIED
    assert reading_session.card["shimei"] == "転入　太郎"
    assert reading_session.card["address"] == "大阪府大阪市北区中之島一丁目3番20号"
    assert PIN not in caplog.text
    rows = json.dumps(list(CounterSession.objects.values()), default=str, ensure_ascii=False)
    assert PIN not in rows and "987654321098" not in rows


def test_a_wrong_pin_reaches_the_clerk_with_the_retries_left(reading_session: CounterSession, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    read_card(
        request_id=reading_session.card["request"],
        kind="mynumber",
        sealed_pin=_sealed(reading_session, "0000"),
    )
    reading_session.refresh_from_db()
    assert reading_session.state == SessionState.RECEPTION
    assert reading_session.card["status"] == "failed"
    assert (reading_session.card["reason"], reading_session.card["retries_left"]) == ("wrong_pin", 2)
    assert "0000" not in caplog.text


def _sealed(session: CounterSession, pin: str) -> str:
    terminal = session.counter.terminal
    assert terminal is not None
    return sealed_for(
        terminal=terminal.code,
        secret=terminal.secret,
        request_id=session.card["request"],
        kind="mynumber",
        pin=pin,
    )


def test_a_command_sealed_for_another_terminal_reads_nothing(reading_session: CounterSession, caplog) -> None:
    """A command that does not open with this agent's secret (another terminal's, forged, or moved to another
    request) never reaches the card: no PIN try is spent, and the session hears why."""
    caplog.set_level(logging.DEBUG)
    other = sealed_for(
        terminal="K99",
        secret="another-secret",
        request_id=reading_session.card["request"],
        kind="mynumber",
        pin=PIN,
    )
    moved = sealed_for(
        terminal=reading_session.counter.terminal.code,  # type: ignore[union-attr]
        secret=reading_session.counter.terminal.secret,  # type: ignore[union-attr]
        request_id="another-request",
        kind="mynumber",
        pin=PIN,
    )
    commands: list[dict[str, str]] = [{"sealed_pin": s} for s in (other, moved, "s1.garbage", "not sealed")]
    commands.append({"pin": PIN})  # a server of the version before sealing: refused, not used
    for command in commands:
        read_card(request_id=reading_session.card["request"], kind="mynumber", **command)
        reading_session.refresh_from_db()
        assert (reading_session.card["status"], reading_session.card["reason"]) == ("failed", "bad_command")
        CounterSession.objects.filter(pk=reading_session.pk).update(
            card={**reading_session.card, "status": "reading"}
        )
    # The card was never asked: the right PIN still has all its tries.
    read_card(
        request_id=reading_session.card["request"],
        kind="mynumber",
        sealed_pin=_sealed(reading_session, "0000"),
    )
    reading_session.refresh_from_db()
    assert reading_session.card["retries_left"] == 2


def test_the_command_hides_the_pin_from_monitors(settings) -> None:
    """Through the real (filesystem) broker: the message for the agent carries the PIN once, sealed for the
    terminal's agent; neither its body nor the headers that monitors and logs show (kwargsrepr) hold it in
    clear."""
    from devices import services as device_services
    from devices.agent import broker

    if not settings.CELERY_BROKER_URL.startswith("filesystem"):
        pytest.skip("this test reads the filesystem broker's message files")
    folder = Path(str(broker.broker_transport_options(settings.CELERY_BROKER_URL)["data_folder_in"]))
    before = set(folder.glob("*.msg"))
    terminal = CounterFactory.create().terminal
    assert terminal is not None
    device_services.card_read_request(terminal=terminal, request_id="r1", kind="mynumber", pin=PIN)
    new = [json.loads(path.read_text()) for path in set(folder.glob("*.msg")) - before]
    message = next(m for m in new if m["headers"].get("task") == "devices.agent.read_card")
    assert message["properties"]["delivery_info"]["routing_key"] == terminal.queue
    assert card_secret(message, terminal=terminal.code, secret=terminal.secret) == PIN
    assert PIN not in message_text(message) and "****" in message["headers"]["kwargsrepr"]
    for path in set(folder.glob("*.msg")) - before:
        path.unlink()  # no agent consumes this queue in the test


def test_the_tries_left_reach_the_tablet_before_the_pin_is_typed(
    reading_session: CounterSession, card_file: Path
) -> None:
    """The probe reads the retry counter without spending a try; the PIN pad shows it (and warns at the last
    try), the session's version stays, so a PIN being typed is not made stale."""
    from counters.views_tablet import CHROME, _session_screen

    request = reading_session.card["request"]
    CounterSession.objects.filter(pk=reading_session.pk).update(
        card={**reading_session.card, "status": "pin", "pin_requested": True}
    )
    version = CounterSession.objects.get(pk=reading_session.pk).version
    probe_card(request_id=request, kind="mynumber")
    reading_session.refresh_from_db()
    assert (reading_session.card["probe"], reading_session.card["retries_left"]) == ("ok", 3)
    assert reading_session.version == version
    words = CHROME["ja"]
    assert _session_screen(reading_session)["card_messages"] == [words["card_retries"].format(n=3)]

    # Two wrong PINs earlier (at another counter, say): the pad warns that the next one locks the card.
    reader = SimulatedCardReader(card_file, Path(os.environ["MADOGUCHI_AGENT_STATE_DIR"]))
    for _ in range(2):
        with pytest.raises(CardFailed):
            reader.read(kind="mynumber", pin="0000")
    probe_card(request_id=request, kind="mynumber")
    reading_session.refresh_from_db()
    screen = _session_screen(reading_session)
    assert screen["screen"] == "pin"
    assert screen["card_messages"] == [words["card_retries"].format(n=1), words["card_last_try"]]

    # Locked: no PIN pad at all, the resident is sent to the clerk.
    with pytest.raises(CardFailed):
        reader.read(kind="mynumber", pin="0000")
    probe_card(request_id=request, kind="mynumber")
    reading_session.refresh_from_db()
    assert reading_session.card["probe"] == "locked"
    screen = _session_screen(reading_session)
    assert screen["screen"] == "card" and screen["card_messages"] == [words["card_locked"]]

    # No card on the reader yet: the resident is asked to put it there.
    card_file.rename(card_file.with_suffix(".away"))
    probe_card(request_id=request, kind="mynumber")
    reading_session.refresh_from_db()
    assert reading_session.card["probe"] == "no_card"
    assert _session_screen(reading_session)["card_messages"] == [words["card_place"]]


def test_asking_for_a_pin_sends_the_probe_and_nothing_secret(
    settings, django_capture_on_commit_callbacks
) -> None:
    counter = CounterFactory.create()
    clerk = UserFactory(roles=["clerk"])
    assert counter.terminal is not None
    queue = QueueMessages(counter.terminal.queue)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            session = services.session_card_request(
                session=services.counter_session_open(counter=counter, clerk=clerk), clerk=clerk
            )
        [message] = queue.new()
    finally:
        queue.drop_new()
    assert message["headers"]["task"] == "devices.agent.probe_card"
    assert task_kwargs(message) == {"request_id": session.card["request"], "kind": "mynumber"}


def test_a_read_the_clerk_cancelled_is_ignored_when_it_answers_late(reading_session: CounterSession) -> None:
    clerk = reading_session.clerk
    session = services.session_card_cancel(session=reading_session, clerk=clerk)
    assert "status" not in session.card
    read_card(request_id=session.card["request"], kind="mynumber", sealed_pin=_sealed(session, PIN))
    session.refresh_from_db()
    assert session.state == SessionState.RECEPTION and "shimei" not in session.card


def test_a_probe_supersedes_an_earlier_reads_failure_and_refuses_a_bogus_count(
    reading_session: CounterSession,
) -> None:
    from counters.views_tablet import CHROME, _session_screen

    terminal = reading_session.counter.terminal
    assert terminal is not None
    CounterSession.objects.filter(pk=reading_session.pk).update(
        card={**reading_session.card, "status": "pin", "pin_requested": True, "reason": "no_card"}
    )
    probe_card(request_id=reading_session.card["request"], kind="mynumber")
    reading_session.refresh_from_db()
    assert "reason" not in reading_session.card  # the card is on the reader now
    assert _session_screen(reading_session)["card_messages"] == [CHROME["ja"]["card_retries"].format(n=3)]
    bogus = {
        "type": "card.probed",
        "request": reading_session.card["request"],
        "status": "ok",
        "retries_left": True,
    }
    response = signed_post(Client(), terminal, bogus)
    assert response.status_code == 400 and "retries_left" in response.json()["error"]


def test_a_replayed_command_never_reaches_the_card_and_a_late_one_is_answered_expired(
    reading_session: CounterSession,
) -> None:
    """The seal carries its time limit and the agent remembers the requests it has read: a command copied from the
    broker and sent again, or one delivered long after it was sealed, costs the card no try."""
    request = reading_session.card["request"]
    wrong = _sealed(reading_session, "0000")
    read_card(request_id=request, kind="mynumber", sealed_pin=wrong)
    reading_session.refresh_from_db()
    assert (reading_session.card["reason"], reading_session.card["retries_left"]) == ("wrong_pin", 2)
    CounterSession.objects.filter(pk=reading_session.pk).update(
        card={**reading_session.card, "status": "reading"}
    )
    read_card(request_id=request, kind="mynumber", sealed_pin=wrong)  # the same message, replayed
    reading_session.refresh_from_db()
    assert (reading_session.card["reason"], reading_session.card["retries_left"]) == ("bad_command", None)

    terminal = reading_session.counter.terminal
    assert terminal is not None
    late = sealed_for(
        terminal=terminal.code,
        secret=terminal.secret,
        request_id="r-late",
        kind="mynumber",
        pin="0000",
        seconds=-301,
    )
    CounterSession.objects.filter(pk=reading_session.pk).update(
        card={**reading_session.card, "status": "reading", "request": "r-late"}
    )
    read_card(request_id="r-late", kind="mynumber", sealed_pin=late)
    reading_session.refresh_from_db()
    assert reading_session.card["reason"] == "expired"
    # The card still has the two tries the one real attempt left it.
    CounterSession.objects.filter(pk=reading_session.pk).update(
        card={**reading_session.card, "status": "reading"}
    )
    read_card(request_id="r-late", kind="mynumber", sealed_pin=_sealed(reading_session, "0000"))
    reading_session.refresh_from_db()
    assert reading_session.card["retries_left"] == 1
