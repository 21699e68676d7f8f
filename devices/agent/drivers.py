"""Device drivers of the agent, behind one interface per device kind, each kind a small registry."""

from __future__ import annotations

import hmac
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from .config import AgentConfig


class PrintFailed(Exception):
    """The printer refused or failed the job; the message says why."""


class A4Printer(Protocol):
    def print_pdf(self, *, name: str, pdf: bytes) -> str:
        """Print and return a short description of where it went."""
        ...


class SimulatedA4Printer:
    """Writes each PDF into a folder instead of onto paper (demo and tests)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def print_pdf(self, *, name: str, pdf: bytes) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / name
        tmp = path.with_suffix(".part")
        tmp.write_bytes(pdf)
        tmp.replace(path)
        return str(path)


class CupsA4Printer:
    """A CUPS queue through ``lp`` (Linux counter PCs). Windows: see docs/devices.md."""

    def __init__(self, queue: str) -> None:
        self.queue = queue

    def print_pdf(self, *, name: str, pdf: bytes) -> str:
        result = subprocess.run(
            ["lp", "-d", self.queue, "-t", name, "-"],
            input=pdf,
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise PrintFailed(
                result.stderr.decode(errors="replace").strip() or f"lp exited {result.returncode}"
            )
        return result.stdout.decode(errors="replace").strip()


A4_PRINTERS: dict[str, Callable[[AgentConfig], A4Printer]] = {
    "simulated": lambda config: SimulatedA4Printer(config.printed_dir),
}


def a4_printer(config: AgentConfig) -> A4Printer:
    """``MADOGUCHI_A4_PRINTER``: ``simulated`` or ``cups:<queue>``."""
    if config.printer.startswith("cups:"):
        return CupsA4Printer(config.printer.removeprefix("cups:"))
    try:
        return A4_PRINTERS[config.printer](config)
    except KeyError:
        raise SystemExit(f"agent: unknown A4 printer {config.printer!r}") from None


# --- ID card readers ---------------------------------------------------------------------------------------


class CardFailed(Exception):
    """The card could not be read. ``reason`` is a code the screens translate (wrong_pin, locked, no_card,
    unknown_card); ``retries_left`` the card's PIN retry counter when it is known."""

    def __init__(self, reason: str, message: str, retries_left: int | None = None) -> None:
        super().__init__(message)
        self.reason, self.retries_left = reason, retries_left


class CardReader(Protocol):
    def read(self, *, kind: str, pin: str) -> dict[str, str]:
        """The card's text data (for the My Number card: 券面事項入力補助AP's basic 4 and the individual
        number). Raises CardFailed. One VERIFY per call: never an automatic retry of a PIN."""
        ...


SIMULATED_CARD = {
    "kind": "mynumber",
    "name": "窓口　花子",
    "address": "東京都千代田区霞が関一丁目1番1号",
    "birth_date": "1985-04-01",
    "sex": "2",
    "individual_number": "123456789018",
    "pin": "1234",
}


class SimulatedCardReader:
    """A My Number card in a simulated reader, for the demo and tests: the card is a JSON file (its data and its
    PIN; ``MADOGUCHI_SIMULATED_CARD``, default the demo card above), and like a real card it counts wrong PINs
    down from 3 and locks at 0 (the counter is kept in the agent's state folder). ``{"absent": true}`` is an
    empty reader."""

    def __init__(self, card_file: Path | None, state_dir: Path) -> None:
        self.card_file, self.state = card_file, state_dir / "simulated-card-retries.json"

    def _card(self) -> dict[str, Any]:
        if self.card_file is None:
            return dict(SIMULATED_CARD)
        try:
            card = json.loads(self.card_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"absent": True}
        except ValueError as exc:
            raise CardFailed("unknown_card", f"the card does not answer as a My Number card: {exc}") from exc
        return card if isinstance(card, dict) else {"absent": True}

    def _retries(self, key: str) -> int:
        try:
            return int(json.loads(self.state.read_text()).get(key, 3))
        except (FileNotFoundError, ValueError):
            return 3

    def _set_retries(self, key: str, value: int) -> None:
        self.state.parent.mkdir(parents=True, exist_ok=True)
        self.state.write_text(json.dumps({key: value}))

    def read(self, *, kind: str, pin: str) -> dict[str, str]:
        card = self._card()
        if card.get("absent"):
            raise CardFailed("no_card", "no card in the reader")
        if kind != card.get("kind", "mynumber"):
            raise CardFailed("unknown_card", f"the card in the reader is not a {kind} card")
        key = str(card.get("individual_number", ""))[-4:]
        retries = self._retries(key)
        if retries <= 0:
            raise CardFailed("locked", "the card's PIN is locked", 0)
        if not hmac.compare_digest(pin.encode(), str(card.get("pin", "")).encode()):
            self._set_retries(key, retries - 1)
            raise CardFailed("wrong_pin", "wrong PIN", retries - 1)
        self._set_retries(key, 3)
        return {
            name: str(card.get(name, ""))
            for name in ("name", "address", "birth_date", "sex", "individual_number")
        }


def card_reader(config: AgentConfig) -> CardReader:
    """``MADOGUCHI_CARD_READER``: ``simulated`` (the real PC/SC drivers come with the devices issue)."""
    if config.card_reader == "simulated":
        card = os.environ.get("MADOGUCHI_SIMULATED_CARD")
        return SimulatedCardReader(Path(card) if card else None, config.state_dir)
    raise SystemExit(f"agent: unknown card reader {config.card_reader!r}")
