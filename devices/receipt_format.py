"""The receipt format (番号札, 受付票 …) shared by the server, which stores receipt print jobs, and the agent, which
prints them (devices/agent/receipt.py). Plain Python: the agent runs without Django.

``{"title": str, "lines": [{"text": str, "size": "normal" | "large", "align": "left" | "center" | "right"}],
"qr": str | None, "cut": bool}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SIZES = ("normal", "large")
ALIGNS = ("left", "center", "right")
QR_MAX_BYTES = 2953  # what the largest QR code (version 40, level L) holds in byte mode
TITLE_MAX, TEXT_MAX = 200, 1000


def _text(value: Any, field: str, limit: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"receipt {field}: expected a string, got {type(value).__name__}")
    if len(value) > limit:
        raise ValueError(f"receipt {field}: {len(value)} characters, at most {limit}")
    for char in value:
        if ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0:
            raise ValueError(f"receipt {field}: control character U+{ord(char):04X} (one line per entry)")
    return value


def receipt_validate(receipt: Any) -> dict[str, Any]:
    """The receipt with its defaults filled in (``title`` empty, ``size`` normal, ``align`` left, ``qr`` None,
    ``cut`` True), or a ValueError naming the field that is wrong."""
    if not isinstance(receipt, Mapping):
        raise ValueError(f"receipt: expected an object, got {type(receipt).__name__}")
    unknown = set(receipt) - {"title", "lines", "qr", "cut"}
    if unknown:
        raise ValueError(f"receipt: unknown field(s) {', '.join(sorted(unknown))}")
    title = _text(receipt.get("title", ""), "title", TITLE_MAX)
    lines = receipt.get("lines")
    if not isinstance(lines, list):
        raise ValueError(f"receipt lines: expected a list, got {type(lines).__name__}")
    checked = []
    for index, line in enumerate(lines):
        field = f"lines[{index}]"
        if not isinstance(line, Mapping):
            raise ValueError(f"receipt {field}: expected an object, got {type(line).__name__}")
        unknown = set(line) - {"text", "size", "align"}
        if unknown:
            raise ValueError(f"receipt {field}: unknown field(s) {', '.join(sorted(unknown))}")
        size, align = line.get("size", "normal"), line.get("align", "left")
        if size not in SIZES:
            raise ValueError(f"receipt {field}.size: {size!r} is not one of {', '.join(SIZES)}")
        if align not in ALIGNS:
            raise ValueError(f"receipt {field}.align: {align!r} is not one of {', '.join(ALIGNS)}")
        checked.append(
            {"text": _text(line.get("text"), f"{field}.text", TEXT_MAX), "size": size, "align": align}
        )
    qr = receipt.get("qr")
    if qr is not None:
        if not isinstance(qr, str):
            raise ValueError("receipt qr: expected a string or null")
        if len(qr.encode()) > QR_MAX_BYTES:
            raise ValueError(
                f"receipt qr: {len(qr.encode())} bytes, more than a QR code holds ({QR_MAX_BYTES})"
            )
    cut = receipt.get("cut", True)
    if not isinstance(cut, bool):
        raise ValueError(f"receipt cut: expected true or false, got {cut!r}")
    return {"title": title, "lines": checked, "qr": qr or None, "cut": cut}
