"""The agent's card-read command with the simulated My Number card, against a live server over signed HTTP: the
card's data reaches the session that asked; a wrong PIN counts down and locks like a real card; the PIN is in no
log, no event and no stored row; the command's representation for monitors hides it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from counters import services
from counters.models import CounterSession, SessionState
from devices.agent.app import read_card
from devices.agent.drivers import CardFailed, SimulatedCardReader
from tests.factories import CounterFactory, UserFactory

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
    read_card(request_id=reading_session.card["request"], kind="mynumber", pin=PIN)
    reading_session.refresh_from_db()
    assert reading_session.state == SessionState.IDENTIFIED
    assert reading_session.card["shimei"] == "転入　太郎"
    assert reading_session.card["address"] == "大阪府大阪市北区中之島一丁目3番20号"
    assert PIN not in caplog.text
    rows = json.dumps(list(CounterSession.objects.values()), default=str, ensure_ascii=False)
    assert PIN not in rows and "987654321098" not in rows


def test_a_wrong_pin_reaches_the_clerk_with_the_retries_left(reading_session: CounterSession, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    read_card(request_id=reading_session.card["request"], kind="mynumber", pin="0000")
    reading_session.refresh_from_db()
    assert reading_session.state == SessionState.RECEPTION
    assert reading_session.card["status"] == "failed"
    assert (reading_session.card["reason"], reading_session.card["retries_left"]) == ("wrong_pin", 2)
    assert "0000" not in caplog.text


def test_the_command_hides_the_pin_from_monitors(settings) -> None:
    """Through the real (filesystem) broker: the message for the agent carries the PIN once, in its body; the
    headers that monitors and logs show (kwargsrepr) do not, and the message expires."""
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
    assert PIN not in json.dumps(message["headers"]) and "****" in message["headers"]["kwargsrepr"]
    assert message["headers"]["expires"]
    for path in set(folder.glob("*.msg")) - before:
        path.unlink()  # no agent consumes this queue in the test
