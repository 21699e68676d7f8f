"""Device drivers of the agent, behind one interface per device kind, each kind a small registry."""

from __future__ import annotations

import hmac
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .config import AgentConfig


@dataclass(frozen=True)
class DeviceStatus:
    """One device's health as the agent reports it in its heartbeat (``devices`` list of the ``heartbeat`` event).

    ``kind``: card_reader | staff_reader | qr_scanner | receipt_printer | a4_printer; ``driver``: the setting's
    driver part (``pcsc``, ``simulated``, ``network`` …); ``status``: ok | error | absent; ``detail``: a short
    reason for people (never personal data)."""

    kind: str
    driver: str
    status: str
    detail: str = ""

    def as_event(self) -> dict[str, str]:
        return {"kind": self.kind, "driver": self.driver, "status": self.status, "detail": self.detail[:200]}


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
    """A CUPS queue through ``lp`` (Linux counter PCs): the PDF on its standard input, the job's title, the
    queue; lp's own message when it fails. Windows: see docs/agent-windows.md."""

    def __init__(self, queue: str) -> None:
        self.queue = queue

    def print_pdf(self, *, name: str, pdf: bytes) -> str:
        try:
            result = subprocess.run(
                ["lp", "-d", self.queue, "-t", name, "-"],
                input=pdf,
                capture_output=True,
                check=False,
                timeout=120,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:  # no lp on this PC (cups-client), or it hung
            raise PrintFailed(f"cannot run lp for queue {self.queue}: {exc}") from None
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
        queue = config.printer.removeprefix("cups:")
        if not queue:
            raise SystemExit("agent: A4 printer 'cups:' needs its CUPS queue, e.g. cups:Shimin1-A4")
        return CupsA4Printer(queue)
    try:
        return A4_PRINTERS[config.printer](config)
    except KeyError:
        raise SystemExit(f"agent: unknown A4 printer {config.printer!r}") from None


# --- ID card readers ---------------------------------------------------------------------------------------


class CardFailed(Exception):
    """The card could not be read. ``reason`` is a code the screens translate: wrong_pin, locked, no_card,
    unknown_card, card_removed, malformed, wrong_card_number, reader_missing, reader_error (and bad_command, from
    read_card itself); ``retries_left`` the card's PIN retry counter when it is known. The message never holds a
    PIN, a card number or personal data."""

    def __init__(self, reason: str, message: str, retries_left: int | None = None) -> None:
        super().__init__(message)
        self.reason, self.retries_left = reason, retries_left


CARD_KINDS = ("mynumber", "mynumber_b", "licence", "residence")
CARD_FIELDS = {
    "mynumber": ("name", "address", "birth_date", "sex", "individual_number"),
    "licence": ("name", "kana", "birth_date", "address", "licence_number", "issue_date", "expiry_date"),
    "residence": (
        "name",
        "nationality",
        "birth_date",
        "sex",
        "address",
        "card_number",
        "status_of_residence",
        "period_end",
    ),
}


class CardReader(Protocol):
    def read(self, *, kind: str, pin: str) -> dict[str, str]:
        """The card's text data. ``kind`` and ``pin``: ``mynumber`` (4-digit PIN of 券面事項入力補助AP: basic 4 and
        individual number), ``mynumber_b`` (照合番号B, 14 digits; same data), ``licence`` (PIN1; empty: the
        common data only), ``residence`` (the 12-character card number). Raises CardFailed. One VERIFY per call:
        never an automatic retry of a PIN."""
        ...

    def retries(self, *, kind: str) -> int | None:
        """The tries left of the PIN of the card in the reader (``mynumber`` or ``licence``), read before any
        VERIFY and without spending one, so the resident sees them before typing. Raises CardFailed (no_card,
        unknown_card, locked …)."""
        ...

    def status(self) -> DeviceStatus:
        """The reader's health (kind ``card_reader``) for the heartbeat."""
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
    """A card in a simulated reader, for the demo and tests: the card is a JSON file (``MADOGUCHI_SIMULATED_CARD``,
    default the demo My Number card above) with its ``kind`` (mynumber, licence or residence), its data
    (CARD_FIELDS) and its secrets: ``pin`` (My Number PIN or licence PIN1), ``code_b`` (照合番号B),
    ``card_number`` (residence card). Like a real card it counts wrong PINs down from 3 and locks at 0 (the
    counters are kept in the agent's state folder). ``{"absent": true}`` is an empty reader."""

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
            raise CardFailed("unknown_card", f"the card does not answer as a known card: {exc}") from exc
        return card if isinstance(card, dict) else {"absent": True}

    def _counters(self) -> dict[str, Any]:
        try:
            counters = json.loads(self.state.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return counters if isinstance(counters, dict) else {}

    def _retries(self, key: str) -> int:
        try:
            return int(self._counters().get(key, 3))
        except (TypeError, ValueError):
            return 3

    def _set_retries(self, key: str, value: int) -> None:
        self.state.parent.mkdir(parents=True, exist_ok=True)
        self.state.write_text(json.dumps(self._counters() | {key: value}))

    def _verify(self, key: str, given: str, expected: str) -> None:
        retries = self._retries(key)
        if retries <= 0:
            raise CardFailed("locked", "the card's PIN is locked", 0)
        if not hmac.compare_digest(given.encode(), expected.encode()):
            self._set_retries(key, retries - 1)
            raise CardFailed("wrong_pin", "wrong PIN", retries - 1)
        self._set_retries(key, 3)

    def _present(self, kind: str) -> dict[str, Any]:
        card = self._card()
        if card.get("absent"):
            raise CardFailed("no_card", "no card in the reader")
        card_kind = str(card.get("kind", "mynumber"))
        if kind not in CARD_KINDS or card_kind != ("mynumber" if kind == "mynumber_b" else kind):
            raise CardFailed("unknown_card", f"the card in the reader is not a {kind} card")
        return card

    def retries(self, *, kind: str) -> int | None:
        card = self._present(kind)
        if kind == "mynumber":
            left = self._retries(str(card.get("individual_number", ""))[-4:])
        elif kind == "licence":
            left = self._retries("licence-" + str(card.get("licence_number", ""))[-4:])
        else:
            raise CardFailed("unknown_card", f"no PIN retry counter for card kind {kind!r}")
        if left <= 0:
            raise CardFailed("locked", "the card's PIN is locked", 0)
        return left

    def read(self, *, kind: str, pin: str) -> dict[str, str]:
        card = self._present(kind)
        card_kind = str(card.get("kind", "mynumber"))
        if kind == "mynumber":
            self._verify(str(card.get("individual_number", ""))[-4:], pin, str(card.get("pin", "")))
        elif kind == "mynumber_b":
            self._verify("b-" + str(card.get("individual_number", ""))[-4:], pin, str(card.get("code_b", "")))
        elif kind == "residence":
            if not hmac.compare_digest(pin.encode(), str(card.get("card_number", "")).encode()):
                raise CardFailed("wrong_card_number", "the card number does not open this residence card")
        elif pin:
            self._verify("licence-" + str(card.get("licence_number", ""))[-4:], pin, str(card.get("pin", "")))
        else:
            return {name: str(card.get(name, "")) for name in ("issue_date", "expiry_date")}
        return {name: str(card.get(name, "")) for name in CARD_FIELDS[card_kind]}

    def status(self) -> DeviceStatus:
        if self.card_file is not None and not self.card_file.parent.is_dir():
            return DeviceStatus("card_reader", "simulated", "absent", f"no folder {self.card_file.parent}")
        return DeviceStatus("card_reader", "simulated", "ok")


class NoCardReader:
    """``MADOGUCHI_CARD_READER=none``: a terminal without an ID-card reader; a read fails as reader_missing."""

    def read(self, *, kind: str, pin: str) -> dict[str, str]:
        raise CardFailed("reader_missing", "no card reader is configured on this terminal")

    def retries(self, *, kind: str) -> int | None:
        raise CardFailed("reader_missing", "no card reader is configured on this terminal")

    def status(self) -> DeviceStatus:
        return DeviceStatus("card_reader", "none", "absent", "no card reader configured")


def card_reader(config: AgentConfig) -> CardReader:
    """``MADOGUCHI_CARD_READER``: ``simulated``, ``pcsc`` (the first PC/SC reader), ``pcsc:<part of the reader's
    name>`` (devices/agent/cards/) or ``none``."""
    if config.card_reader == "none":
        return NoCardReader()
    if config.card_reader == "simulated":
        card = os.environ.get("MADOGUCHI_SIMULATED_CARD")
        return SimulatedCardReader(Path(card) if card else None, config.state_dir)
    driver, _, name = config.card_reader.partition(":")
    if driver == "pcsc":
        # Imported here: pyscard needs the PC/SC library, which a simulated setup does not.
        from .cards.pcsc import PcscCardReader

        return PcscCardReader(name)
    raise SystemExit(
        f"agent: unknown card reader {config.card_reader!r} (simulated, pcsc, pcsc:<reader> or none)"
    )
