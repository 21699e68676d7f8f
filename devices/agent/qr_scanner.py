"""QR scanners in serial mode (USB CDC, a virtual COM port): one scan is one line of raw bytes.

A scan ends with ``\\r``, ``\\n`` or ``\\r\\n`` (scanners are configured either way) and is UTF-8 or Shift_JIS. A scan
that is neither, holds control bytes, or runs past 4096 bytes without an end raises ``QrUnreadable``; the scanner
then drops that scan's bytes and reads the next one as usual. Messages never quote a payload (it may be a
resident's number), only offsets and single byte values.
"""

from __future__ import annotations

import re
import time
import unicodedata
from pathlib import Path
from typing import Protocol

import serial

from .config import AgentConfig
from .drivers import DeviceStatus

MAX_SCAN_BYTES = 4096
TERMINATORS = b"\r\n"
DEFAULT_BAUD = 9600


class QrUnreadable(Exception):
    """A scan that is not text we can use; the message says why (without the payload)."""


def decode_scan(raw: bytes) -> str:
    """One scan's bytes (without terminator) as text: strict UTF-8, else strict Shift_JIS (cp932, the Windows
    variant scanners send, with the NEC and IBM kanji such as 髙); control characters are refused."""
    if len(raw) > MAX_SCAN_BYTES:
        raise QrUnreadable(f"scan of {len(raw)} bytes is longer than {MAX_SCAN_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as utf8_error:
        try:
            text = _decode_cp932(raw)
        except UnicodeDecodeError as sjis_error:
            raise QrUnreadable(
                f"scan of {len(raw)} bytes is neither UTF-8 (byte 0x{raw[utf8_error.start]:02X} at offset "
                f"{utf8_error.start}) nor Shift_JIS (byte 0x{raw[sjis_error.start]:02X} at offset "
                f"{sjis_error.start})"
            ) from None
    text = text.removeprefix("\ufeff")
    for index, char in enumerate(text):
        if unicodedata.category(char) in ("Cc", "Cs", "Co", "Cn") and char != "\t":
            raise QrUnreadable(
                f"scan holds the control or unassigned character U+{ord(char):04X} at character {index}"
            )
    return text


# Single bytes that are no Shift_JIS character but that Python's cp932 codec maps anyway (to U+0080 and to private
# use), as Windows does for round trips.
_CP932_UNASSIGNED = re.compile("[\u0080\uf8f0-\uf8f3]")


def _decode_cp932(raw: bytes) -> str:
    """Strict Shift_JIS in its Windows variant: a byte that is no character there fails, with its offset."""
    text = raw.decode("cp932")
    if match := _CP932_UNASSIGNED.search(text):
        offset = len(text[: match.start()].encode("cp932"))
        raise UnicodeDecodeError("cp932", raw, offset, offset + 1, "not a Shift_JIS character")
    return text


class ScanFramer:
    """Cuts a byte stream into scans at ``\\r`` or ``\\n``; an empty line (the ``\\n`` of ``\\r\\n``) is no scan."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.skipping = False  # inside an over-long scan, until its end

    def feed(self, data: bytes) -> None:
        self.buffer += data

    def next_scan(self) -> str | None:
        """The next complete scan, None when there is none yet; QrUnreadable for a bad one (it is consumed)."""
        while True:
            ends = [i for i in (self.buffer.find(b"\r"), self.buffer.find(b"\n")) if i >= 0]
            if not ends:
                if len(self.buffer) > MAX_SCAN_BYTES:
                    self.buffer.clear()
                    if not self.skipping:
                        self.skipping = True
                        raise QrUnreadable(f"scan longer than {MAX_SCAN_BYTES} bytes without an end of line")
                return None
            end = min(ends)
            raw = bytes(self.buffer[:end])
            del self.buffer[: end + 1]
            if self.skipping:
                self.skipping = False
                continue
            if raw:
                return decode_scan(raw)


class QrScanner(Protocol):
    def read(self, timeout: float) -> str | None:
        """The next scan, None when none came within ``timeout`` seconds; raises QrUnreadable for a bad scan."""
        ...

    def status(self) -> DeviceStatus: ...

    def close(self) -> None: ...


class SerialQrScanner:
    """A scanner on a serial port or any pyserial URL (``loop://``, ``socket://…``, ``rfc2217://…``). The port is
    opened on first use and again after it failed (a scanner unplugged and plugged back), so the agent keeps
    polling; meanwhile ``status()`` reports the error and ``read`` waits out its timeout and returns None."""

    def __init__(self, url: str, baudrate: int = DEFAULT_BAUD) -> None:
        self.url, self.baudrate = url, baudrate
        self.port: serial.SerialBase | None = None
        self.error = ""
        self.framer = ScanFramer()

    def _open(self) -> serial.SerialBase | None:
        if self.port is None:
            try:
                self.port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0)
                self.error = ""
            except (serial.SerialException, OSError, ValueError) as exc:
                self.error = str(exc)
        return self.port

    def read(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while True:
            scan = self.framer.next_scan()
            if scan is not None:
                return scan
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            port = self._open()
            if port is None:
                time.sleep(min(remaining, 1.0))
                continue
            try:
                port.timeout = remaining
                data = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError) as exc:
                self.error = str(exc)
                self.close()
                continue
            self.framer.feed(data)

    def status(self) -> DeviceStatus:
        self._open()
        if self.error:
            return DeviceStatus("qr_scanner", "serial", "error", f"{self.url}: {self.error}")
        return DeviceStatus("qr_scanner", "serial", "ok", self.url)

    def close(self) -> None:
        if self.port is not None:
            port, self.port = self.port, None
            port.close()


class SimulatedQrScanner:
    """A folder where each file is one scan, its bytes as a serial scanner sends them (terminator optional);
    files are consumed in name order and deleted when read, bad ones too. Names starting with ``.`` or ending
    in ``.part`` are files still being written."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _next_file(self) -> Path | None:
        try:
            names = sorted(
                path
                for path in self.folder.iterdir()
                if path.is_file() and not path.name.startswith(".") and not path.name.endswith(".part")
            )
        except FileNotFoundError:
            return None
        return names[0] if names else None

    def read(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while True:
            path = self._next_file()
            if path is not None:
                raw = path.read_bytes()
                path.unlink()
                return decode_scan(raw.rstrip(TERMINATORS))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(remaining, 0.05))

    def status(self) -> DeviceStatus:
        if not self.folder.is_dir():
            return DeviceStatus("qr_scanner", "simulated", "error", f"{self.folder}: no such folder")
        return DeviceStatus("qr_scanner", "simulated", "ok", str(self.folder))

    def close(self) -> None:
        pass


def qr_scanner(config: AgentConfig) -> QrScanner | None:
    """``MADOGUCHI_QR_SCANNER``: ``none``, ``serial:<port or pyserial URL>[@<baud>]`` (``serial:/dev/ttyACM0@9600``,
    ``serial:COM3``, ``serial:loop://``; 9600 baud by default) or ``simulated:<folder>``."""
    setting = config.qr_scanner
    driver, _, rest = setting.partition(":")
    if setting == "none":
        return None
    if driver == "serial" and rest:
        url, at, baud = rest.rpartition("@")
        if not at or not baud.isdigit():
            url, baud = rest, str(DEFAULT_BAUD)
        if not url or int(baud) <= 0:
            raise SystemExit(f"agent: QR scanner {setting!r} is not serial:<port>[@<baud>]")
        return SerialQrScanner(url, int(baud))
    if driver == "simulated" and rest:
        return SimulatedQrScanner(Path(rest))
    raise SystemExit(
        f"agent: unknown QR scanner {setting!r} (none, serial:<port>[@<baud>] or simulated:<folder>)"
    )
