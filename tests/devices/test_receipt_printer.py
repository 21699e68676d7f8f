"""Receipt printing: ESC/POS bytes read back through the test decoder, a real TCP printer on loopback (also
offline and hanging up mid-receipt), the simulated printer's files, and the settings."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from devices.agent import receipt as receipt_module
from devices.agent.config import AgentConfig
from devices.agent.drivers import PrintFailed
from devices.agent.receipt import MJ_FONT, encode_receipt, line_image, receipt_printer
from tests.conftest import IVS_NAME, free_port

from .escpos_decoder import UnknownCommand, decode

TICKET: dict[str, Any] = {
    "title": "受付票",
    "lines": [
        {"text": "受付番号 A001", "size": "large", "align": "center"},
        {"text": "髙橋　𠮷子", "size": "normal", "align": "left"},
        {"text": "ｼﾐﾝｶ 手数料 ¥300", "size": "normal", "align": "right"},
    ],
    "qr": "MDG1-RECEPTION:A001",
    "cut": True,
}


def config(tmp_path: Path, receipt_printer: str) -> AgentConfig:
    return AgentConfig(
        server_url="http://127.0.0.1:8000",
        terminal="K01",
        secret="x",
        printed_dir=tmp_path / "printed",
        state_dir=tmp_path / "agent",
        printer="simulated",
        receipt_printer=receipt_printer,
    )


class LoopbackPrinter:
    """A network printer on loopback: collects each connection's bytes until the client's end of stream. With
    ``hang_up_after`` it takes that many bytes of the next connection and closes with the rest unread, as a
    printer does that is switched off mid-receipt; with ``hold_open`` it keeps its side open afterwards."""

    def __init__(self, port: int, hang_up_after: int | None = None, hold_open: float = 0.0) -> None:
        self.port, self.hang_up_after, self.hold_open = port, hang_up_after, hold_open
        self.jobs: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", port))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                received = bytearray()
                if self.hang_up_after is not None:
                    while len(received) < self.hang_up_after:
                        received += conn.recv(self.hang_up_after - len(received))
                    self.hang_up_after = None
                    time.sleep(0.2)  # the rest has arrived and lies unread: closing now resets the connection
                else:
                    while chunk := conn.recv(65536):
                        received += chunk
                    time.sleep(self.hold_open)
                self.jobs.append(bytes(received))

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone would not
        self.listener.close()
        self.thread.join(timeout=5)


@pytest.fixture
def printer_port() -> Iterator[int]:
    yield free_port()


@pytest.fixture
def loopback_printer(printer_port: int) -> Iterator[LoopbackPrinter]:
    server = LoopbackPrinter(printer_port)
    yield server
    server.close()


def wait_for_jobs(server: LoopbackPrinter, count: int) -> list[bytes]:
    deadline = time.monotonic() + 5
    while len(server.jobs) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return server.jobs


def test_ticket_over_tcp_prints_kanji_text_an_image_for_the_mj_name_the_qr_and_the_cut(
    tmp_path: Path, loopback_printer: LoopbackPrinter
) -> None:
    printer = receipt_printer(config(tmp_path, f"network:127.0.0.1:{loopback_printer.port}"))
    assert printer.print_receipt(name="ticket-A001", receipt=TICKET) == f"127.0.0.1:{loopback_printer.port}"
    (data,) = wait_for_jobs(loopback_printer, 1)
    printout = decode(data)

    assert printout.texts == ["受付票", "受付番号 A001", "[image 120x25]", "ｼﾐﾝｶ 手数料 ¥300", ""]
    assert [(line.align, line.size) for line in printout.lines[:4]] == [
        ("center", "large"),
        ("center", "large"),
        ("left", "normal"),
        ("right", "normal"),
    ]
    assert printout.qr == ["MDG1-RECEPTION:A001"]
    assert printout.cuts == 1 and data.endswith(b"\x1dV\x00")
    # Kanji mode in Shift_JIS (JIS X 0208), not python-escpos's GB18030.
    assert b"\x1c&" + "受付番号".encode("shift_jis") + b"\x1c. A001\n" in data
    assert "受付番号".encode("gb18030") not in data

    # 髙橋　𠮷子: five full-width characters of 24 dots; ink in every cell but the ideographic space's.
    (image,) = printout.images
    inked = [
        any(image.dot(x, y) for x in range(cell * 24, cell * 24 + 24) for y in range(image.height))
        for cell in range(5)
    ]
    assert inked == [True, True, False, True, True]


def test_the_mj_glyph_is_drawn_not_its_jis_lookalike() -> None:
    """髙 (はしごだか) must not come out as 高: the printed cell differs from 高 drawn the same way."""
    font = ImageFont.truetype(str(MJ_FONT), 24, layout_engine=ImageFont.Layout.RAQM)
    taka = Image.new("1", (24, 25), 1)
    ImageDraw.Draw(taka).text((0, 0), "高", font=font, fill=0)
    hashigo = line_image("髙").crop((0, 0, 24, 25))
    assert hashigo.tobytes() != taka.tobytes()


def test_an_ivs_selects_its_variant_glyph_and_takes_no_width() -> None:
    with_ivs, plain = line_image(IVS_NAME), line_image("葛西")
    assert with_ivs.size == plain.size == (48, 25)
    assert with_ivs.tobytes() != plain.tobytes()
    printout = decode(encode_receipt({"title": "", "lines": [{"text": IVS_NAME}], "qr": None, "cut": False}))
    assert printout.texts == ["[image 48x25]"] and printout.cuts == 0 and printout.qr == []


def test_large_lines_and_lines_too_wide_for_the_paper() -> None:
    assert line_image("𠮷", size="large").size == (48, 49)
    wide = line_image("𠮷" * 40)  # 960 dots at 24: drawn at 14 dots a character
    assert wide.size == (560, 15)


def test_single_byte_text_uses_the_japanese_character_set() -> None:
    data = encode_receipt({"title": "", "lines": [{"text": "ｱｲｳ ¥100 (a-z)"}], "qr": None, "cut": False})
    assert b"\xb1\xb2\xb3 \x5c100 (a-z)\n" in data
    assert decode(data).texts == ["ｱｲｳ ¥100 (a-z)"]


def test_a_backslash_has_no_printer_byte_and_goes_as_an_image() -> None:
    printout = decode(encode_receipt({"title": "", "lines": [{"text": "C:\\"}], "qr": None, "cut": False}))
    assert printout.texts[0].startswith("[image ")


def test_the_decoder_refuses_what_it_does_not_know() -> None:
    with pytest.raises(UnknownCommand, match="offset 0"):
        decode(b"\x1b*\x00")
    with pytest.raises(UnknownCommand, match="Kanji"):
        decode(b"\x1b@\x1c&\x88\x9f")


def test_offline_printer_fails_with_its_address_then_prints_once_when_back(
    tmp_path: Path, printer_port: int
) -> None:
    printer = receipt_printer(config(tmp_path, f"network:127.0.0.1:{printer_port}"))
    with pytest.raises(PrintFailed, match=rf"127\.0\.0\.1:{printer_port}: cannot connect"):
        printer.print_receipt(name="ticket-A001", receipt=TICKET)

    server = LoopbackPrinter(printer_port)
    try:
        printer.print_receipt(name="ticket-A001", receipt=TICKET)
        jobs = wait_for_jobs(server, 1)
    finally:
        server.close()
    assert jobs == [encode_receipt(TICKET)]


def test_printer_hanging_up_mid_receipt_fails_and_the_retry_prints_it_whole_once(
    tmp_path: Path, printer_port: int
) -> None:
    server = LoopbackPrinter(printer_port, hang_up_after=64)
    try:
        printer = receipt_printer(config(tmp_path, f"network:127.0.0.1:{printer_port}"))
        with pytest.raises(PrintFailed, match=rf"127\.0\.0\.1:{printer_port}: the connection broke"):
            printer.print_receipt(name="ticket-A001", receipt=TICKET)
        printer.print_receipt(name="ticket-A001", receipt=TICKET)
        jobs = wait_for_jobs(server, 2)
    finally:
        server.close()
    whole = encode_receipt(TICKET)
    assert len(jobs) == 2 and len(jobs[0]) == 64
    assert [job for job in jobs if job == whole] == [whole]


def test_a_printer_that_keeps_the_connection_open_has_printed(
    tmp_path: Path, printer_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(receipt_module, "NETWORK_TIMEOUT", 0.3)
    server = LoopbackPrinter(printer_port, hold_open=1.0)
    try:
        started = time.monotonic()
        receipt_printer(config(tmp_path, f"network:127.0.0.1:{printer_port}")).print_receipt(
            name="t", receipt=TICKET
        )
        assert time.monotonic() - started < 0.9
        jobs = wait_for_jobs(server, 1)
    finally:
        server.close()
    assert jobs == [encode_receipt(TICKET)]


def test_a_printer_that_stops_taking_data_has_not_printed(
    tmp_path: Path, printer_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of paper, jammed: the printer accepts the connection and then reads nothing. Once the socket's buffers
    are full the send times out — a failure (the job waits and is sent again), never a receipt taken as printed."""
    monkeypatch.setattr(receipt_module, "NETWORK_TIMEOUT", 0.5)
    listener = socket.create_server(("127.0.0.1", printer_port))
    accepted: list[socket.socket] = []
    taker = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    taker.start()
    long = {"title": "受付票", "lines": [{"text": "窓口" * 500}] * 3000, "qr": None, "cut": True}
    try:
        with pytest.raises(PrintFailed, match="stopped taking data"):
            receipt_printer(config(tmp_path, f"network:127.0.0.1:{printer_port}")).print_receipt(
                name="t", receipt=long
            )
    finally:
        taker.join(timeout=5)
        for connection in accepted:
            connection.close()
        listener.close()


def test_network_status(tmp_path: Path, loopback_printer: LoopbackPrinter) -> None:
    up = receipt_printer(config(tmp_path, f"network:127.0.0.1:{loopback_printer.port}")).status()
    assert (up.kind, up.driver, up.status) == ("receipt_printer", "network", "ok")
    down = receipt_printer(config(tmp_path, f"network:127.0.0.1:{free_port()}")).status()
    assert down.status == "error" and "127.0.0.1:" in down.detail


def test_simulated_printer_writes_the_bytes_and_the_text(tmp_path: Path) -> None:
    printer = receipt_printer(config(tmp_path, "simulated"))
    where = printer.print_receipt(name="ticket-A001", receipt=TICKET)
    folder = tmp_path / "printed"
    assert where == str(folder / "ticket-A001.bin")
    assert decode((folder / "ticket-A001.bin").read_bytes()).qr == ["MDG1-RECEPTION:A001"]
    assert (folder / "ticket-A001.txt").read_text(encoding="utf-8") == (
        "受付票\n受付番号 A001\n髙橋　𠮷子\nｼﾐﾝｶ 手数料 ¥300\n[QR] MDG1-RECEPTION:A001\n[cut]\n"
    )
    assert sorted(path.name for path in folder.iterdir()) == ["ticket-A001.bin", "ticket-A001.txt"]
    assert printer.status().status == "ok"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"title": None}, "receipt title: expected a string"),
        ({"lines": "受付番号"}, "receipt lines: expected a list"),
        ({"lines": [{"text": "a"}, {"text": "b", "size": "huge"}]}, r"receipt lines\[1\]\.size: 'huge'"),
        ({"lines": [{"text": "a", "align": "middle"}]}, r"receipt lines\[0\]\.align"),
        ({"lines": [{"text": "a\nb"}]}, r"receipt lines\[0\]\.text: control character U\+000A"),
        ({"lines": [{"txt": "a"}]}, r"receipt lines\[0\]: unknown field\(s\) txt"),
        ({"qr": 12}, "receipt qr: expected a string or null"),
        ({"qr": "x" * 3000}, "receipt qr: 3000 bytes"),
        ({"cut": "yes"}, "receipt cut: expected true or false"),
        ({"copies": 2}, r"receipt: unknown field\(s\) copies"),
    ],
)
def test_a_bad_receipt_is_refused_naming_the_field_and_nothing_is_written(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        receipt_printer(config(tmp_path, "simulated")).print_receipt(name="t", receipt={**TICKET, **change})
    assert not (tmp_path / "printed").exists()


def test_a_bad_receipt_never_reaches_the_network(tmp_path: Path, loopback_printer: LoopbackPrinter) -> None:
    printer = receipt_printer(config(tmp_path, f"network:127.0.0.1:{loopback_printer.port}"))
    with pytest.raises(ValueError, match="size"):
        printer.print_receipt(name="t", receipt={**TICKET, "lines": [{"text": "a", "size": "huge"}]})
    printer.print_receipt(name="t", receipt=TICKET)
    assert wait_for_jobs(loopback_printer, 1) == [encode_receipt(TICKET)]


def test_simulated_printer_refuses_a_name_that_is_a_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="receipt name"):
        receipt_printer(config(tmp_path, "simulated")).print_receipt(name="../x", receipt=TICKET)


def test_file_printer_writes_the_bytes_and_fails_when_the_device_is_missing(tmp_path: Path) -> None:
    device = tmp_path / "lp0"
    device.touch()
    printer = receipt_printer(config(tmp_path, f"file:{device}"))
    assert printer.print_receipt(name="t", receipt=TICKET) == str(device)
    assert device.read_bytes() == encode_receipt(TICKET)
    assert printer.status().status == "ok"

    missing = receipt_printer(config(tmp_path, f"file:{tmp_path}/no-such-dir/lp0"))
    with pytest.raises(PrintFailed, match="no-such-dir/lp0: cannot open"):
        missing.print_receipt(name="t", receipt=TICKET)
    assert missing.status().status == "error"


@pytest.mark.parametrize(
    ("setting", "where"),
    [
        ("network:printer.example", "printer.example:9100"),
        ("network:192.0.2.7:9101", "192.0.2.7:9101"),
        ("network:[::1]:9102", "::1:9102"),
    ],
)
def test_network_settings(tmp_path: Path, setting: str, where: str) -> None:
    printer = receipt_printer(config(tmp_path, setting))
    assert isinstance(printer, receipt_module.NetworkReceiptPrinter) and printer.where == where


def test_usb_setting(tmp_path: Path) -> None:
    printer = receipt_printer(config(tmp_path, "usb:04b8:0e15"))
    assert isinstance(printer, receipt_module.EscposDeviceReceiptPrinter) and printer.where == "usb 04b8:0e15"
    with pytest.raises(PrintFailed, match="usb 04b8:0e15: cannot open"):
        printer.print_receipt(name="t", receipt=TICKET)  # no such device (and pyusb may be missing)


@pytest.mark.parametrize(
    "setting", ["epson", "network:", "usb:04b8", "usb:xyz:0e15", "network:host:99999", "file:"]
)
def test_unknown_settings_stop_the_agent(tmp_path: Path, setting: str) -> None:
    with pytest.raises(SystemExit, match=r"agent: .*receipt printer"):
        receipt_printer(config(tmp_path, setting))


def test_config_default_is_simulated(tmp_path: Path) -> None:
    assert isinstance(
        receipt_printer(dataclasses.replace(config(tmp_path, "x"), receipt_printer="simulated")),
        receipt_module.SimulatedReceiptPrinter,
    )
