"""Staff login cards: the ID through the reader's pseudo-APDU FF CA on a real pcscd, once per presentation; the
simulated folder twin; the factory's settings."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest

from devices.agent.cards.staff import PcscStaffReader, SimulatedStaffReader, staff_reader
from devices.agent.config import AgentConfig

from .conftest import STAFF_SLOT, wait_for_card
from .virtual import VirtualStaffCard


def test_a_tap_gives_the_uid_in_uppercase_hex_once_per_presentation(insert) -> None:
    reader = PcscStaffReader("Virtual PCD 00 01")
    assert reader.wait_for_tap(0.3) is None, "an empty reader times out"
    card = insert(VirtualStaffCard(bytes.fromhex("01 2e 45 a7 3b 9c 11 0f")), staff=True)
    assert reader.wait_for_tap(5) == "012E45A73B9C110F"
    started = time.monotonic()
    assert reader.wait_for_tap(0.5) is None, "the same card lying on the reader is not a new tap"
    assert time.monotonic() - started >= 0.4
    card.remove()
    wait_for_card(STAFF_SLOT[0], False)
    again = VirtualStaffCard(bytes.fromhex("0123456789ABCDEF"))
    threading.Timer(0.3, again.insert, args=(STAFF_SLOT[1],)).start()
    try:
        assert reader.wait_for_tap(10) == "0123456789ABCDEF", "a new presentation is reported while waiting"
    finally:
        again.remove()
        wait_for_card(STAFF_SLOT[0], False)
    assert reader.status().as_event() == {
        "kind": "staff_reader",
        "driver": "pcsc",
        "status": "ok",
        "detail": "Virtual PCD 00 01",
    }
    assert PcscStaffReader("RC-S300").status().status == "absent"


def test_the_simulated_reader_takes_each_file_as_one_tap(tmp_path: Path) -> None:
    reader = SimulatedStaffReader(tmp_path)
    assert reader.wait_for_tap(0.1) is None
    (tmp_path / "a").write_text("0123abcd\n")
    (tmp_path / "b").write_text("")  # still being written: left alone
    assert reader.wait_for_tap(1) == "0123ABCD"
    assert reader.wait_for_tap(0.1) is None and (tmp_path / "b").exists()
    threading.Timer(0.2, (tmp_path / "c").write_text, args=("FEEDBEEF",)).start()
    assert reader.wait_for_tap(5) == "FEEDBEEF"
    assert reader.status().status == "ok"
    assert SimulatedStaffReader(tmp_path / "nowhere").status().status == "absent"


def config(tmp_path: Path, setting: str) -> AgentConfig:
    base = AgentConfig(
        server_url="http://127.0.0.1:1", terminal="K01", secret="s", printed_dir=tmp_path, state_dir=tmp_path,
        printer="simulated",
    )  # fmt: skip
    return dataclasses.replace(base, staff_reader=setting)


def test_the_factory_reads_the_setting(tmp_path: Path) -> None:
    assert staff_reader(config(tmp_path, "none")) is None
    assert isinstance(staff_reader(config(tmp_path, "pcsc")), PcscStaffReader)
    assert isinstance(staff_reader(config(tmp_path, "pcsc:RC-S300")), PcscStaffReader)
    assert isinstance(staff_reader(config(tmp_path, f"simulated:{tmp_path}")), SimulatedStaffReader)
    nfcpy = staff_reader(config(tmp_path, "nfcpy:usb:054c:06c1"))
    assert type(nfcpy).__name__ == "NfcpyStaffReader"
    for bad in ("pasori", "simulated:", "nfcpy"):
        with pytest.raises(SystemExit, match="unknown staff reader"):
            staff_reader(config(tmp_path, bad))
