"""The nfcpy staff-card driver (RC-S380 and older readers) against a FeliCa card on nfcpy's own UDP transport.

nfcpy ships a ``udp:<host>:<port>`` device: its reader side sends the RF frames it would send through a USB
reader as UDP datagrams (``<bitrate> <hex frame>``). The card here is a small stand-in on loopback that answers
FeliCa polling (SENSF_REQ ``06 00 FF FF 01 00``) with its IDm and PMm, as a staff card on the RC-S380 does; nfcpy
itself — sensing, connecting, presence checks, release — runs unchanged.
"""

from __future__ import annotations

import binascii
import socket
import threading
from collections.abc import Iterator

import pytest

from devices.agent.cards.staff import NfcpyStaffReader, staff_reader

pytest.importorskip("nfc")

PMM = bytes.fromhex("0120220427674EFF")


class FelicaCard:
    """A FeliCa card in the field of nfcpy's UDP reader. ``idm = None``: no card."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.idm: bytes | None = None
        self.polls = 0
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                datagram, reader = self.sock.recvfrom(1024)
            except TimeoutError:
                continue
            parts = datagram.split()
            if len(parts) != 2 or parts[0] != b"212F" or self.idm is None:
                continue  # other bit rates (type A/B sensing), RFOFF, or no card: silence
            frame = binascii.unhexlify(parts[1])
            if frame[:2] == b"\x06\x00":  # polling: answer with IDm, PMm (and the system code when asked)
                self.polls += 1
                answer = b"\x01" + self.idm + PMM + (b"\x00\x03" if frame[4] == 1 else b"")
                self.sock.sendto(b"212F " + binascii.hexlify(bytes([len(answer) + 1]) + answer), reader)

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def card() -> Iterator[FelicaCard]:
    card = FelicaCard()
    yield card
    card.close()


def test_a_tap_gives_the_cards_idm_once_per_presentation(card: FelicaCard) -> None:
    reader = NfcpyStaffReader(f"udp:127.0.0.1:{card.port}")
    assert reader.wait_for_tap(timeout=1.5) is None  # nothing on the reader
    card.idm = bytes.fromhex("012E4CD3F1A2B3C4")
    assert reader.wait_for_tap(timeout=5) == "012E4CD3F1A2B3C4"
    polls = card.polls
    assert reader.wait_for_tap(timeout=1.5) is None  # still lying there: not a new tap
    assert card.polls > polls  # it was looked at, and recognised as the same card
    card.idm = bytes.fromhex("012E4CD3F1A2B3C5")  # another colleague's card
    assert reader.wait_for_tap(timeout=5) == "012E4CD3F1A2B3C5"


def test_the_driver_is_chosen_by_the_setting_and_reports_its_device(card: FelicaCard, tmp_path) -> None:
    from devices.agent.config import AgentConfig

    config = AgentConfig(
        server_url="http://127.0.0.1:8000",
        terminal="K01",
        secret="x",
        printed_dir=tmp_path / "printed",
        state_dir=tmp_path / "agent",
        printer="simulated",
        staff_reader=f"nfcpy:udp:127.0.0.1:{card.port}",
    )
    reader = staff_reader(config)
    assert isinstance(reader, NfcpyStaffReader)
    status = reader.status()
    assert (status.kind, status.driver, status.status) == ("staff_reader", "nfcpy", "ok")


def test_a_missing_reader_is_reported_absent() -> None:
    status = NfcpyStaffReader("usb:054c:ffff").status()
    assert (status.driver, status.status) == ("nfcpy", "absent")
