"""QR scanners in serial mode over pyserial's ``loop://`` and over a real pty pair, the simulated folder scanner,
and the scan decoder under hypothesis."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.agent.config import AgentConfig
from devices.agent.qr_scanner import (
    MAX_SCAN_BYTES,
    QrUnreadable,
    ScanFramer,
    SerialQrScanner,
    SimulatedQrScanner,
    decode_scan,
    qr_scanner,
)

ATENA = "MDG1-ATENA:000000000019"


def config(tmp_path: Path, setting: str) -> AgentConfig:
    return AgentConfig(
        server_url="http://127.0.0.1:8000",
        terminal="K01",
        secret="x",
        printed_dir=tmp_path / "printed",
        state_dir=tmp_path / "agent",
        printer="simulated",
        qr_scanner=setting,
    )


@pytest.fixture(params=["loop", "pty"])
def scanner_and_wire(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[SerialQrScanner, Callable[[bytes], None]]]:
    """A serial scanner and the function that sends bytes down its wire: pyserial's loop:// (what is written
    comes back) or a pty pair (the scanner opens the terminal side; the test writes to the controller side)."""
    if request.param == "loop":
        scanner = SerialQrScanner("loop://")
        assert scanner.status().status == "ok"
        assert scanner.port is not None
        port = scanner.port
        # loop:// holds at most 4096 bytes until they are read: a writer thread sends in order meanwhile, as a
        # scanner's wire would.
        wire: queue.Queue[bytes | None] = queue.Queue()
        writer = threading.Thread(target=lambda: [port.write(d) for d in iter(wire.get, None)], daemon=True)
        writer.start()
        yield scanner, wire.put
        wire.put(None)
        writer.join(timeout=5)
        scanner.close()
        return
    controller, terminal = os.openpty()
    scanner = SerialQrScanner(os.ttyname(terminal), 9600)
    assert scanner.status().status == "ok"  # opened (and set raw) before anything is written
    yield scanner, lambda data: os.write(controller, data)  # type: ignore[misc]
    scanner.close()
    os.close(controller)
    os.close(terminal)


def test_utf8_and_shift_jis_scans_with_every_terminator(scanner_and_wire) -> None:
    scanner, send = scanner_and_wire
    send(ATENA.encode() + b"\r")
    assert scanner.read(timeout=2) == ATENA
    send("住民票の写し 髙橋".encode("cp932") + b"\r\n")
    assert scanner.read(timeout=2) == "住民票の写し 髙橋"
    send("印鑑登録証明書".encode("shift_jis") + b"\n" + "転入届".encode() + b"\r\n")
    assert scanner.read(timeout=2) == "印鑑登録証明書"
    assert scanner.read(timeout=2) == "転入届"


def test_a_scan_split_across_reads_is_joined(scanner_and_wire) -> None:
    scanner, send = scanner_and_wire
    send(b"MDG1-ATENA:")
    assert scanner.read(timeout=0.2) is None
    send(b"000000000019\r")
    assert scanner.read(timeout=2) == ATENA


@pytest.mark.parametrize(
    ("garbage", "message"),
    [
        (b"AB\x00\x01CD", r"control or unassigned character U\+0000 at character 2"),
        (
            b"OK\xff\xfe\xfd",
            r"neither UTF-8 \(byte 0xFF at offset 2\) nor Shift_JIS \(byte 0xFF at offset 2\)",
        ),
        (b"\x1b[2J", r"U\+001B"),
    ],
)
def test_garbage_is_unreadable_and_the_next_scan_still_reads(
    scanner_and_wire, garbage: bytes, message: str
) -> None:
    scanner, send = scanner_and_wire
    send(garbage + b"\r\n" + ATENA.encode() + b"\r\n")
    with pytest.raises(QrUnreadable, match=message):
        scanner.read(timeout=2)
    assert scanner.read(timeout=2) == ATENA


def test_an_over_long_scan_is_unreadable_and_dropped_whole(scanner_and_wire) -> None:
    scanner, send = scanner_and_wire
    for _ in range(5):
        send(b"X" * 1000)
    with pytest.raises(QrUnreadable, match=f"longer than {MAX_SCAN_BYTES}"):
        scanner.read(timeout=2)
    send(b"TAIL OF THE LONG SCAN\r" + ATENA.encode() + b"\r")
    assert scanner.read(timeout=2) == ATENA


def test_timeout_returns_none(scanner_and_wire) -> None:
    scanner, _ = scanner_and_wire
    started = time.monotonic()
    assert scanner.read(timeout=0.3) is None
    assert 0.25 <= time.monotonic() - started < 2


def test_the_message_never_quotes_the_payload() -> None:
    with pytest.raises(QrUnreadable) as raised:
        decode_scan(b"123456789018\x07")
    assert "123456789018" not in str(raised.value)


def test_a_scanner_that_cannot_open_reports_an_error_and_reads_nothing(tmp_path: Path) -> None:
    scanner = SerialQrScanner(str(tmp_path / "ttyACM9"))
    status = scanner.status()
    assert (status.kind, status.driver, status.status) == ("qr_scanner", "serial", "error")
    assert "ttyACM9" in status.detail
    assert scanner.read(timeout=0.1) is None


def test_a_scanner_whose_wire_breaks_reports_it_and_reopens() -> None:
    controller, terminal = os.openpty()
    scanner = SerialQrScanner(os.ttyname(terminal))
    try:
        assert scanner.status().status == "ok"
        os.write(controller, ATENA.encode() + b"\r")
        assert scanner.read(timeout=2) == ATENA
        os.close(controller)  # the scanner is unplugged: reads on the terminal side now fail
        assert scanner.read(timeout=0.3) is None
        assert scanner.status().status in ("ok", "error")  # a pty can be reopened, a vanished device not
    finally:
        scanner.close()
        os.close(terminal)


def test_simulated_scanner_reads_files_in_name_order(tmp_path: Path) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "002.scan").write_bytes(b"\x00\xff\r\n")
    (folder / "001.scan").write_bytes(ATENA.encode() + b"\r")
    (folder / "003.scan").write_bytes("転入届".encode("shift_jis"))
    (folder / "004.scan.part").write_bytes(b"still being written")
    scanner = qr_scanner(config(tmp_path, f"simulated:{folder}"))
    assert isinstance(scanner, SimulatedQrScanner) and scanner.status().status == "ok"
    assert scanner.read(timeout=1) == ATENA
    with pytest.raises(QrUnreadable):
        scanner.read(timeout=1)
    assert scanner.read(timeout=1) == "転入届"
    assert scanner.read(timeout=0.1) is None
    assert [path.name for path in folder.iterdir()] == ["004.scan.part"]


def test_settings(tmp_path: Path) -> None:
    assert qr_scanner(config(tmp_path, "none")) is None
    for setting, url, baud in [
        ("serial:/dev/ttyACM0@115200", "/dev/ttyACM0", 115200),
        ("serial:COM3", "COM3", 9600),
        ("serial:loop://", "loop://", 9600),
        ("serial:socket://192.0.2.1:4000@19200", "socket://192.0.2.1:4000", 19200),
    ]:
        scanner = qr_scanner(config(tmp_path, setting))
        assert isinstance(scanner, SerialQrScanner) and (scanner.url, scanner.baudrate) == (url, baud)
    for bad in ["usb", "serial:", "serial:@9600", "simulated:", "hid:0"]:
        with pytest.raises(SystemExit, match=r"agent: .*QR scanner"):
            qr_scanner(config(tmp_path, bad))


@given(st.binary(max_size=MAX_SCAN_BYTES + 10))
def test_any_bytes_decode_to_text_or_unreadable(raw: bytes) -> None:
    try:
        text = decode_scan(raw)
    except QrUnreadable:
        return
    assert isinstance(text, str) and "\r" not in text and "\n" not in text and "\x00" not in text


@given(st.lists(st.binary(max_size=3000), max_size=8))
def test_any_byte_stream_frames_into_scans_or_unreadable(chunks: list[bytes]) -> None:
    framer = ScanFramer()
    for chunk in chunks:
        framer.feed(chunk)
        for _ in range(len(chunk) + 2):
            try:
                scan = framer.next_scan()
            except QrUnreadable:
                continue
            if scan is None:
                break
            assert scan and "\r" not in scan and "\n" not in scan
        assert len(framer.buffer) <= MAX_SCAN_BYTES
