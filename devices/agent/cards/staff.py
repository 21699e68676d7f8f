"""Staff login cards: the card's ID (UID, PUPI or FeliCa IDm) as uppercase hex, once per presentation.

The ID is not a secret — anyone can clone a UID — so it says who is logging in and a PIN proves it.

- ``pcsc[:<reader name part>]``: a PC/SC contactless reader such as the PaSoRi RC-S300, with the pseudo-APDU
  ``FF CA 00 00 00`` (GET DATA, answered by the reader itself).
- ``nfcpy:<device>``: nfcpy for readers it drives (RC-S380 and older; ``usb``, ``usb:054c:06c1``, ``tty:S0``…).
  nfcpy cannot drive the RC-S300. Tested against a FeliCa card on nfcpy's own UDP transport (``udp:<host>:<port>``,
  tests/devices/test_staff_nfcpy.py); nfc is imported only when used.
- ``simulated:<folder>``: each file dropped into the folder is one tap, its content the card ID (demo, tests).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

from ..config import AgentConfig
from ..drivers import CardFailed, DeviceStatus


class StaffCardReader(Protocol):
    def wait_for_tap(self, timeout: float) -> str | None:
        """The ID of a newly presented card (once per presentation), or None when ``timeout`` seconds pass."""
        ...

    def status(self) -> DeviceStatus: ...


class PcscStaffReader:
    """Waits on PC/SC's reader-state change, so it costs nothing while no card comes."""

    def __init__(self, reader_name: str = "") -> None:
        self.reader_name = reader_name
        self.present = False  # a card is on the reader and was reported already

    def wait_for_tap(self, timeout: float) -> str | None:
        from smartcard import scard

        from .transport import CardConnection, Context, expect_ok

        deadline = time.monotonic() + timeout
        with Context() as context:
            reader = context.reader(self.reader_name)
            state = scard.SCARD_STATE_UNAWARE
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                result, states = scard.SCardGetStatusChange(
                    context.handle, int(left * 1000), [(reader, state)]
                )
                if result == scard.SCARD_E_TIMEOUT:
                    return None
                if result != scard.SCARD_S_SUCCESS:
                    raise CardFailed(
                        "reader_error", f"waiting for a staff card failed (0x{result & 0xFFFFFFFF:08X})"
                    )
                state = states[0][1] & ~scard.SCARD_STATE_CHANGED
                if not state & scard.SCARD_STATE_PRESENT:
                    self.present = False
                    continue
                if self.present:
                    continue
                try:
                    card = CardConnection(context, reader)
                except CardFailed as failed:
                    if failed.reason == "no_card":
                        continue
                    raise
                try:
                    uid = expect_ok(card.transmit(bytes.fromhex("FFCA000000")), "reading the staff card's ID")
                except CardFailed as failed:
                    if failed.reason == "card_removed":
                        continue
                    raise
                finally:
                    card.close()
                self.present = True
                return uid.hex().upper()

    def status(self) -> DeviceStatus:
        from .transport import Context

        try:
            with Context() as context:
                name = context.reader(self.reader_name)
        except CardFailed as failed:
            state = "absent" if failed.reason == "reader_missing" else "error"
            return DeviceStatus("staff_reader", "pcsc", state, str(failed))
        return DeviceStatus("staff_reader", "pcsc", "ok", name)


class NfcpyStaffReader:
    """An nfcpy reader (RC-S380 and older). A card left on the reader is reported once: the next wait holds it
    until it is released and only then looks for a new one."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.held: str | None = None

    def _frontend(self) -> Any:
        import nfc  # lazily: nfcpy loads libusb, which a PC/SC-only counter PC does not need

        return nfc.ContactlessFrontend(self.device)

    def wait_for_tap(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        seen: list[str] = []

        def on_connect(tag: Any) -> bool:
            card_id = bytes(tag.identifier).hex().upper()
            if card_id == self.held:
                return True  # still the reported card: wait for its release
            seen.append(card_id)
            return False

        def on_release(tag: Any) -> None:
            self.held = None

        frontend = self._frontend()
        try:
            while not seen and time.monotonic() < deadline:
                frontend.connect(
                    rdwr={"on-connect": on_connect, "on-release": on_release},
                    terminate=lambda: bool(seen) or time.monotonic() > deadline,
                )
        finally:
            frontend.close()
        if seen:
            self.held = seen[0]
            return seen[0]
        return None

    def status(self) -> DeviceStatus:
        try:
            self._frontend().close()
        except ImportError as exc:
            return DeviceStatus("staff_reader", "nfcpy", "error", f"nfcpy is not installed: {exc}")
        except OSError as exc:
            return DeviceStatus(
                "staff_reader", "nfcpy", "absent", f"no nfcpy reader at {self.device!r}: {exc}"
            )
        return DeviceStatus("staff_reader", "nfcpy", "ok", self.device)


class SimulatedStaffReader:
    """A folder standing in for the reader: each file is one tap (oldest first), its content the card ID (reported
    in uppercase like the real readers' hex), removed once reported."""

    def __init__(self, folder: Path, poll: float = 0.05) -> None:
        self.folder, self.poll = folder, poll

    def wait_for_tap(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while True:
            taps = sorted(
                (p for p in self.folder.glob("*") if p.is_file() and not p.name.startswith(".")),
                key=lambda p: (p.stat().st_mtime_ns, p.name),
            )
            for tap in taps:
                card_id = tap.read_text(encoding="utf-8", errors="replace").strip()
                if card_id:  # an empty file may still be being written: leave it for the next look
                    tap.unlink(missing_ok=True)
                    return card_id.upper()
            if time.monotonic() >= deadline:
                return None
            time.sleep(min(self.poll, max(0.0, deadline - time.monotonic())))

    def status(self) -> DeviceStatus:
        if self.folder.is_dir():
            return DeviceStatus("staff_reader", "simulated", "ok", str(self.folder))
        return DeviceStatus("staff_reader", "simulated", "absent", f"no folder {self.folder}")


def staff_reader(config: AgentConfig) -> StaffCardReader | None:
    """``MADOGUCHI_STAFF_READER``: ``none``, ``pcsc[:<reader name part>]``, ``nfcpy:<device>`` or
    ``simulated:<folder>``."""
    setting = config.staff_reader
    driver, _, arg = setting.partition(":")
    if setting == "none":
        return None
    if driver == "pcsc":
        return PcscStaffReader(arg)
    if driver == "nfcpy" and arg:
        return NfcpyStaffReader(arg)
    if driver == "simulated" and arg:
        return SimulatedStaffReader(Path(arg))
    raise SystemExit(
        f"agent: unknown staff reader {setting!r} (none, pcsc[:<reader>], nfcpy:<device> or simulated:<folder>)"
    )
