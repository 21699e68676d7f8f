"""The simulated card reader's new kinds (照合番号B, licence, residence card) and the card_reader factory."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from devices.agent.cards.pcsc import PcscCardReader
from devices.agent.config import AgentConfig
from devices.agent.drivers import CardFailed, SimulatedCardReader, card_reader


def card(tmp_path: Path, **data: str) -> SimulatedCardReader:
    path = tmp_path / "card.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return SimulatedCardReader(path, tmp_path / "state")


def test_shokai_bango_b_has_its_own_counter(tmp_path: Path) -> None:
    reader = card(tmp_path, kind="mynumber", name="窓口　花子", individual_number="123456789018", pin="1234",
                  code_b="85040120309876")  # fmt: skip
    assert reader.read(kind="mynumber_b", pin="85040120309876")["name"] == "窓口　花子"
    with pytest.raises(CardFailed) as wrong:
        reader.read(kind="mynumber_b", pin="85040120300000")
    assert (wrong.value.reason, wrong.value.retries_left) == ("wrong_pin", 2)
    with pytest.raises(CardFailed) as pin:
        reader.read(kind="mynumber", pin="0000")
    assert pin.value.retries_left == 2, "the PIN's counter is its own"


def test_a_licence_without_and_with_pin1(tmp_path: Path) -> None:
    reader = card(tmp_path, kind="licence", name="渡邉　太郎", kana="ワタナベ　タロウ", birth_date="1990-01-01",
                  address="東京都", licence_number="301234567890", issue_date="2024-03-15",
                  expiry_date="2029-04-15", pin="2580")  # fmt: skip
    assert reader.read(kind="licence", pin="") == {"issue_date": "2024-03-15", "expiry_date": "2029-04-15"}
    assert reader.read(kind="licence", pin="2580")["licence_number"] == "301234567890"
    with pytest.raises(CardFailed) as wrong:
        reader.read(kind="licence", pin="0000")
    assert wrong.value.reason == "wrong_pin"
    with pytest.raises(CardFailed) as other:
        reader.read(kind="mynumber", pin="2580")
    assert other.value.reason == "unknown_card"


def test_a_residence_card_opens_with_its_number_only(tmp_path: Path) -> None:
    reader = card(tmp_path, kind="residence", name="NGUYEN VAN AN", card_number="AB12345678CD")
    assert reader.read(kind="residence", pin="AB12345678CD")["name"] == "NGUYEN VAN AN"
    with pytest.raises(CardFailed) as wrong:
        reader.read(kind="residence", pin="AB12345678CE")
    assert wrong.value.reason == "wrong_card_number" and "AB1234" not in str(wrong.value)


def test_the_factory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MADOGUCHI_SIMULATED_CARD", raising=False)
    base = AgentConfig(server_url="http://127.0.0.1:1", terminal="K01", secret="s", printed_dir=tmp_path,
                       state_dir=tmp_path, printer="simulated")  # fmt: skip
    simulated = card_reader(base)
    assert isinstance(simulated, SimulatedCardReader) and simulated.status().status == "ok"
    reader = card_reader(dataclasses.replace(base, card_reader="pcsc:Virtual PCD 00 00"))
    assert isinstance(reader, PcscCardReader) and reader.reader_name == "Virtual PCD 00 00"
    assert isinstance(card_reader(dataclasses.replace(base, card_reader="pcsc")), PcscCardReader)
    with pytest.raises(SystemExit, match="unknown card reader 'usb'"):
        card_reader(dataclasses.replace(base, card_reader="usb"))
