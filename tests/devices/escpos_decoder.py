"""A decoder of exactly the ESC/POS commands ``devices.agent.receipt`` emits, so tests can read what a printer
would print. Any byte it does not understand raises ``UnknownCommand`` with its offset: a new command in the
encoder must be taught here on purpose."""

from __future__ import annotations

from dataclasses import dataclass, field


class UnknownCommand(ValueError):
    pass


@dataclass
class Line:
    text: str
    align: str
    size: str


@dataclass
class RasterImage:
    width: int  # dots
    height: int
    rows: list[bytes]  # width // 8 bytes per row, 1 = black

    def dot(self, x: int, y: int) -> bool:
        return bool(self.rows[y][x // 8] & (0x80 >> (x % 8)))


@dataclass
class Printout:
    lines: list[Line] = field(default_factory=list)  # text lines; an image is a line "[image <w>x<h>]"
    images: list[RasterImage] = field(default_factory=list)
    qr: list[str] = field(default_factory=list)
    cuts: int = 0
    initialised: int = 0

    @property
    def texts(self) -> list[str]:
        return [line.text for line in self.lines]


ALIGNS = {0: "left", 1: "center", 2: "right"}
SIZES = {0x00: "normal", 0x11: "large"}


def _single(byte: int) -> str:
    """JIS X 0201 as the printer prints it with ESC R 8 (Japan) and ESC t 1 (katakana)."""
    if byte == 0x5C:
        return "¥"
    if byte == 0x7E:
        return "‾"
    if 0x20 <= byte <= 0x7D:
        return chr(byte)
    if 0xA1 <= byte <= 0xDF:
        return chr(byte - 0xA1 + 0xFF61)
    raise UnknownCommand(f"byte 0x{byte:02X} outside Kanji mode")


def decode(data: bytes) -> Printout:
    out = Printout()
    pos = 0
    text: list[str] = []
    align, size = "left", "normal"
    kanji = False
    japanese: set[str] = set()
    qr_store: bytes | None = None

    def need(count: int) -> bytes:
        if pos + count > len(data):
            raise UnknownCommand(f"command at offset {pos} cut short")
        return data[pos : pos + count]

    def end_line() -> None:
        out.lines.append(Line("".join(text), align, size))
        text.clear()

    while pos < len(data):
        byte = data[pos]
        if kanji:
            if data.startswith(b"\x1c.", pos):
                kanji = False
                pos += 2
                continue
            if "sjis" not in japanese:
                raise UnknownCommand(f"Kanji mode at offset {pos} without FS C 1")
            pair = need(2)
            try:
                text.append(pair.decode("shift_jis"))
            except UnicodeDecodeError:
                raise UnknownCommand(f"not a Shift_JIS pair at offset {pos}: {pair.hex()}") from None
            if len(text[-1]) != 1 or pair[0] < 0x81:
                raise UnknownCommand(f"not a two-byte character at offset {pos}: {pair.hex()}")
            pos += 2
            continue
        if byte == 0x0A:
            end_line()
            pos += 1
        elif data.startswith(b"\x1b@", pos):
            out.initialised += 1
            align, size = "left", "normal"
            pos += 2
        elif data.startswith(b"\x1bR", pos):
            if need(3)[2] != 8:
                raise UnknownCommand(f"international character set {data[pos + 2]} at offset {pos}")
            japanese.add("R8")
            pos += 3
        elif data.startswith(b"\x1bt", pos):
            if need(3)[2] != 1:
                raise UnknownCommand(f"code page {data[pos + 2]} at offset {pos}")
            japanese.add("t1")
            pos += 3
        elif data.startswith(b"\x1cC", pos):
            if need(3)[2] != 1:
                raise UnknownCommand(f"Kanji code system {data[pos + 2]} at offset {pos}")
            japanese.add("sjis")
            pos += 3
        elif data.startswith(b"\x1c&", pos):
            kanji = True
            pos += 2
        elif data.startswith(b"\x1ba", pos):
            align = ALIGNS[need(3)[2]]
            pos += 3
        elif data.startswith(b"\x1d!", pos):
            value = need(3)[2]
            if value not in SIZES:
                raise UnknownCommand(f"character size 0x{value:02X} at offset {pos}")
            size = SIZES[value]
            pos += 3
        elif data.startswith(b"\x1bd", pos):
            need(3)
            if text:
                end_line()
            pos += 3
        elif data.startswith(b"\x1dv0", pos):
            header = need(8)
            if header[3] != 0:
                raise UnknownCommand(f"raster mode {header[3]} at offset {pos}")
            width_bytes = int.from_bytes(header[4:6], "little")
            height = int.from_bytes(header[6:8], "little")
            pos += 8
            body = need(width_bytes * height)
            rows = [body[row * width_bytes : (row + 1) * width_bytes] for row in range(height)]
            image = RasterImage(width_bytes * 8, height, rows)
            out.images.append(image)
            if text:
                raise UnknownCommand(f"raster image at offset {pos} in the middle of a text line")
            out.lines.append(Line(f"[image {image.width}x{image.height}]", align, size))
            pos += width_bytes * height
        elif data.startswith(b"\x1d(k", pos):
            header = need(5)
            length = int.from_bytes(header[3:5], "little")
            pos += 5
            body = need(length)
            pos += length
            cn, fn = body[0], body[1]
            if cn != ord("1") or fn not in b"ACEPQ":
                raise UnknownCommand(f"GS ( k cn={cn} fn={fn} at offset {pos - length - 5}")
            if fn == ord("P"):
                qr_store = body[3:]
            elif fn == ord("Q"):
                if qr_store is None:
                    raise UnknownCommand(f"QR print without stored data at offset {pos}")
                out.qr.append(qr_store.decode("utf-8"))
                qr_store = None
        elif data.startswith(b"\x1dV", pos):
            mode = need(3)[2]
            if mode in (0, 1, 48, 49):
                pos += 3
            elif mode in (65, 66):
                need(4)
                pos += 4
            else:
                raise UnknownCommand(f"cut mode {mode} at offset {pos}")
            out.cuts += 1
        elif byte >= 0x20 and byte != 0x7F:
            if not {"R8", "t1"} <= japanese:
                raise UnknownCommand(f"text at offset {pos} before ESC R 8 and ESC t 1")
            text.append(_single(byte))
            pos += 1
        else:
            raise UnknownCommand(f"unknown byte 0x{byte:02X} at offset {pos}")
    if kanji:
        raise UnknownCommand("the data ends in Kanji mode")
    if text:
        end_line()
    return out
