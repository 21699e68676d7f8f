"""Receipt printers (レシートプリンタ): a receipt as a small dict, its ESC/POS bytes, and the drivers that send them.

Japanese text goes through the printer's Kanji mode in Shift_JIS, written here byte by byte, because
python-escpos's ``text()`` encodes CJK as GB18030, which Japanese printers print as garbage. A line with a
character outside JIS X 0208 (髙, 﨑, 𠮷, a Moji_Joho IVS sequence such as 葛 + U+E0102) cannot go through Kanji mode:
it is rendered with the IPAmj font (raqm layout, so an IVS selects its variant glyph) and sent as a raster image.
The QR code is the printer's own (``GS ( k``), built by python-escpos, as is the cut.
"""

from __future__ import annotations

import functools
import math
import os
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from escpos.printer import Dummy
from PIL import Image, ImageDraw, ImageFont, ImageOps

from devices.receipt_format import receipt_validate

from .config import AgentConfig
from .drivers import DeviceStatus, PrintFailed

MJ_FONT = Path("/usr/share/fonts/truetype/ipamj/ipamjm.ttf")  # Debian's fonts-ipamj-mincho
MJ_FONT_WINDOWS = Path("C:/Windows/Fonts/ipamjm.ttf")  # where IPAmj明朝's installer puts it


def mj_font_path() -> Path:
    """``MADOGUCHI_MJ_FONT``, else where IPAmj明朝 is installed on this system (Debian, or Windows)."""
    if configured := os.environ.get("MADOGUCHI_MJ_FONT"):
        return Path(configured)
    return MJ_FONT_WINDOWS if os.name == "nt" else MJ_FONT


PAPER_DOTS = 576  # printable width of an 80 mm receipt printer at 203 dpi (72 mm)
FONT_DOTS = {"normal": 24, "large": 48}  # Kanji font A is 24 × 24 dots; "large" is double width and height
SIZES = {"normal": 0x00, "large": 0x11}  # GS ! n: width and height multipliers
ALIGNS = {"left": 0, "center": 1, "right": 2}  # ESC a n

ESC, GS, FS, LF = b"\x1b", b"\x1d", b"\x1c", b"\n"
INIT = ESC + b"@"
JAPANESE = (
    ESC
    + b"R\x08"  # international character set Japan: 0x5C is ¥, 0x7E is ‾
    + ESC
    + b"t\x01"  # code page 1: half-width katakana at 0xA1–0xDF
    + FS
    + b"C\x01"  # Kanji code system Shift_JIS
)
KANJI_ON, KANJI_OFF = FS + b"&", FS + b"."

NETWORK_TIMEOUT = 5.0  # seconds to connect, to send, and to wait for the printer to close its side


# --- the receipt -------------------------------------------------------------------------------------------


def _printed_lines(receipt: dict[str, Any]) -> list[dict[str, str]]:
    """The title (large, centred) and then the lines, as they go onto paper."""
    title = [{"text": receipt["title"], "size": "large", "align": "center"}] if receipt["title"] else []
    return title + receipt["lines"]


# --- encoding ----------------------------------------------------------------------------------------------


def _single_byte(char: str) -> int | None:
    """The byte of ``char`` in JIS X 0201 (Roman and katakana halves, as the printer's Japan set prints them)."""
    code = ord(char)
    if 0x20 <= code <= 0x7E and char not in "\\~":  # 0x5C and 0x7E print as ¥ and ‾
        return code
    if char == "¥":
        return 0x5C
    if char == "‾":
        return 0x7E
    if 0xFF61 <= code <= 0xFF9F:  # half-width katakana
        return code - 0xFF61 + 0xA1
    return None


def _kanji(char: str) -> bytes | None:
    """The two Shift_JIS bytes of ``char`` when it is in JIS X 0208 (Python's ``shift_jis`` is exactly that;
    ``cp932`` would add the NEC and IBM extensions such as 髙, which Kanji mode does not print)."""
    try:
        encoded = char.encode("shift_jis")
    except UnicodeEncodeError:
        return None
    return encoded if len(encoded) == 2 else None


def text_bytes(text: str) -> bytes | None:
    """``text`` for the printer: single bytes outside Kanji mode and Shift_JIS pairs inside it; None when a
    character has neither (the line then goes as an image)."""
    out = bytearray()
    in_kanji = False
    for char in text:
        single = _single_byte(char)
        if single is not None:
            if in_kanji:
                out += KANJI_OFF
                in_kanji = False
            out.append(single)
            continue
        pair = _kanji(char)
        if pair is None:
            return None
        if not in_kanji:
            out += KANJI_ON
            in_kanji = True
        out += pair
    if in_kanji:
        out += KANJI_OFF
    return bytes(out)


@functools.lru_cache(maxsize=8)
def _mj_font(dots: int) -> ImageFont.FreeTypeFont:
    """IPAmj明朝 with raqm (HarfBuzz) layout, which applies an IVS; the basic layout would draw it as a box. A
    missing font makes the receipt unprintable here (ValueError: reported as print.failed, not retried)."""
    path = mj_font_path()
    try:
        return ImageFont.truetype(str(path), dots, layout_engine=ImageFont.Layout.RAQM)
    except OSError as exc:
        raise ValueError(
            f"the MJ font {path} cannot be loaded ({exc}); install IPAmj明朝 or set MADOGUCHI_MJ_FONT"
        ) from None


def line_image(text: str, *, size: str = "normal", paper_dots: int = PAPER_DOTS) -> Image.Image:
    """``text`` drawn with the IPAmj font as a 1-bit image (black = 0), as wide as the text (rounded up to whole
    bytes) and never wider than the paper: a line too long for it is drawn smaller."""
    dots = FONT_DOTS[size]
    font = _mj_font(dots)
    length = font.getlength(text)
    if length > paper_dots:
        font = _mj_font(int(dots * paper_dots / length))
        length = font.getlength(text)
    ascent, descent = font.getmetrics()
    width = max(8, math.ceil(length / 8) * 8)
    image = Image.new("1", (min(width, paper_dots), ascent + descent), 1)
    ImageDraw.Draw(image).text((0, 0), text, font=font, fill=0)
    return image


def raster_bytes(image: Image.Image) -> bytes:
    """``GS v 0``: the image as rows of bits, 1 = black dot."""
    width_bytes = math.ceil(image.width / 8)
    inverted = ImageOps.invert(image.convert("L")).convert("1", dither=Image.Dither.NONE)
    rows = inverted.tobytes()  # mode "1" rows are packed MSB first and padded to whole bytes
    return GS + b"v0\x00" + width_bytes.to_bytes(2, "little") + image.height.to_bytes(2, "little") + rows


def encode_receipt(receipt: dict[str, Any], *, paper_dots: int = PAPER_DOTS) -> bytes:
    """The receipt as one ESC/POS byte string, built completely before any printer is touched."""
    receipt = receipt_validate(receipt)
    out = bytearray(INIT + JAPANESE)
    for line in _printed_lines(receipt):
        out += ESC + b"a" + bytes([ALIGNS[line["align"]]])
        encoded = text_bytes(line["text"])
        if encoded is None:
            out += (
                GS
                + b"!\x00"
                + raster_bytes(line_image(line["text"], size=line["size"], paper_dots=paper_dots))
            )
        else:
            out += GS + b"!" + bytes([SIZES[line["size"]]]) + encoded + LF
    out += GS + b"!\x00" + ESC + b"a\x01"
    if receipt["qr"]:
        code = Dummy()
        code.qr(receipt["qr"], native=True, size=6)
        out += code.output + LF
    if receipt["cut"]:
        cut = Dummy()
        cut.cut()  # feeds six lines past the cutter first
        out += cut.output
    return bytes(out)


def receipt_text(receipt: dict[str, Any]) -> str:
    """What the receipt shows, as plain text (the simulated printer's ``.txt``)."""
    receipt = receipt_validate(receipt)
    lines = [line["text"] for line in _printed_lines(receipt)]
    if receipt["qr"]:
        lines.append(f"[QR] {receipt['qr']}")
    if receipt["cut"]:
        lines.append("[cut]")
    return "\n".join(lines) + "\n"


# --- printers ----------------------------------------------------------------------------------------------


class ReceiptPrinter(Protocol):
    def print_receipt(self, *, name: str, receipt: dict[str, Any]) -> str:
        """Print the receipt whole or raise PrintFailed; return a short description of where it went."""
        ...

    def status(self) -> DeviceStatus: ...


SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}")


class SimulatedReceiptPrinter:
    """Writes ``<name>.bin`` (the ESC/POS bytes) and ``<name>.txt`` (what they show) into a folder (demo, tests)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def print_receipt(self, *, name: str, receipt: dict[str, Any]) -> str:
        if not SAFE_NAME.fullmatch(name):
            raise ValueError(f"receipt name {name!r}: use letters, digits, '.', '_' and '-' only")
        data, text = encode_receipt(receipt), receipt_text(receipt)
        self.folder.mkdir(parents=True, exist_ok=True)
        for suffix, content in ((".bin", data), (".txt", text.encode())):
            path = self.folder / f"{name}{suffix}"
            part = self.folder / f"{name}{suffix}.part"
            part.write_bytes(content)
            part.replace(path)
        return str(self.folder / f"{name}.bin")

    def status(self) -> DeviceStatus:
        return DeviceStatus("receipt_printer", "simulated", "ok", str(self.folder))


class NetworkReceiptPrinter:
    """A printer on TCP port 9100 (RAW). One connection per receipt: connect, send every byte, half-close, and
    wait for the printer to close its side. A connection that cannot be made, or is reset before the printer has
    taken every byte (a reset means it dropped unread data), is a PrintFailed, so the caller can print the same
    receipt again. This talks to the socket itself rather than through python-escpos's ``Network``, which
    neither half-closes nor reports a reset after its ``sendall``."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def print_receipt(self, *, name: str, receipt: dict[str, Any]) -> str:
        data = encode_receipt(receipt)
        try:
            sock = socket.create_connection((self.host, self.port), timeout=NETWORK_TIMEOUT)
        except OSError as exc:
            raise PrintFailed(
                f"receipt printer {self.where}: cannot connect ({exc.strerror or exc})"
            ) from exc
        with sock:
            try:
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
            except TimeoutError as exc:  # it stopped taking data (out of paper, jammed, cover open)
                raise PrintFailed(
                    f"receipt printer {self.where}: it stopped taking data for {NETWORK_TIMEOUT:.0f} s"
                ) from exc
            except OSError as exc:
                raise PrintFailed(
                    f"receipt printer {self.where}: the connection broke before the receipt was delivered "
                    f"({exc.strerror or exc})"
                ) from exc
            try:
                while sock.recv(1024):  # status bytes a printer may send; the end is its close
                    pass
            except TimeoutError:
                pass  # everything was taken and nothing was refused; a printer may keep the connection open
            except OSError as exc:
                raise PrintFailed(
                    f"receipt printer {self.where}: the connection broke before the receipt was delivered "
                    f"({exc.strerror or exc})"
                ) from exc
        return self.where

    def status(self) -> DeviceStatus:
        try:
            socket.create_connection((self.host, self.port), timeout=2.0).close()
        except OSError as exc:
            return DeviceStatus("receipt_printer", "network", "error", f"{self.where}: {exc.strerror or exc}")
        return DeviceStatus("receipt_printer", "network", "ok", self.where)


class EscposDeviceReceiptPrinter:
    """A printer that python-escpos opens (``Usb``, ``File``): open, write the whole receipt, close."""

    def __init__(self, driver: str, where: str, open_device: Callable[[], Any]) -> None:
        self.driver, self.where, self.open_device = driver, where, open_device

    def print_receipt(self, *, name: str, receipt: dict[str, Any]) -> str:
        data = encode_receipt(receipt)
        try:
            device = self.open_device()
        except Exception as exc:  # python-escpos raises its own, pyusb's and OSError here
            raise PrintFailed(f"receipt printer {self.where}: cannot open ({exc})") from exc
        try:
            device._raw(data)
        except Exception as exc:
            raise PrintFailed(f"receipt printer {self.where}: writing failed ({exc})") from exc
        finally:
            device.close()
        return self.where

    def status(self) -> DeviceStatus:
        if self.driver == "file":
            # Opening the file to check it would truncate it (python-escpos opens it for writing): look only.
            path = Path(self.where)
            if path.exists() and os.access(path, os.W_OK):
                return DeviceStatus("receipt_printer", "file", "ok", self.where)
            if not path.exists() and os.access(path.parent, os.W_OK):
                return DeviceStatus("receipt_printer", "file", "ok", f"{self.where} (created on first print)")
            return DeviceStatus("receipt_printer", "file", "error", f"{self.where}: not writable")
        try:
            self.open_device().close()
        except Exception as exc:
            return DeviceStatus("receipt_printer", self.driver, "error", f"{self.where}: {exc}")
        return DeviceStatus("receipt_printer", self.driver, "ok", self.where)


def _usb(vendor: int, product: int) -> Any:
    try:
        import usb.core  # noqa: F401  (pyusb and libusb: most counter PCs use a network printer instead)
    except ImportError:
        raise RuntimeError("pyusb is not installed on this PC") from None
    from escpos.printer import Usb

    device = Usb(vendor, product)
    device.open()
    return device


def _file(path: str) -> Any:
    from escpos.printer import File

    device = File(path)
    device.open()
    return device


def _host_port(value: str) -> tuple[str, int]:
    match = re.fullmatch(r"\[(?P<v6>[^\]]+)\](?::(?P<p6>\d+))?|(?P<host>[^:\[\]]+)(?::(?P<port>\d+))?", value)
    if not match:
        raise SystemExit(f"agent: receipt printer network:{value!r} is not network:<host>[:<port>]")
    port = int(match["p6"] or match["port"] or 9100)
    if not 0 < port < 65536:
        raise SystemExit(f"agent: receipt printer port {port} is out of range")
    return match["v6"] or match["host"], port


def receipt_printer(config: AgentConfig) -> ReceiptPrinter:
    """``MADOGUCHI_RECEIPT_PRINTER``: ``simulated``, ``network:<host>[:<port>]`` (default port 9100),
    ``usb:<vendor id hex>:<product id hex>``, ``file:<path>`` (e.g. ``/dev/usb/lp0``) or ``none`` (a job for it
    fails visibly: ValueError)."""
    setting = config.receipt_printer
    driver, _, rest = setting.partition(":")
    if setting == "none":
        raise ValueError("no receipt printer is configured on this terminal (MADOGUCHI_RECEIPT_PRINTER=none)")
    if setting == "simulated":
        return SimulatedReceiptPrinter(config.printed_dir)
    if driver == "network" and rest:
        return NetworkReceiptPrinter(*_host_port(rest))
    if driver == "usb":
        match = re.fullmatch(r"(?:0x)?([0-9a-fA-F]{1,4}):(?:0x)?([0-9a-fA-F]{1,4})", rest)
        if not match:
            raise SystemExit(
                f"agent: receipt printer {setting!r} is not usb:<vendor id hex>:<product id hex>"
            )
        vendor, product = int(match[1], 16), int(match[2], 16)
        return EscposDeviceReceiptPrinter(
            "usb", f"usb {vendor:04x}:{product:04x}", lambda: _usb(vendor, product)
        )
    if driver == "file" and rest:
        return EscposDeviceReceiptPrinter("file", rest, lambda: _file(rest))
    raise SystemExit(
        f"agent: unknown receipt printer {setting!r} "
        "(simulated, network:<host>[:<port>], usb:<vid>:<pid> or file:<path>)"
    )
