"""The ID-card reader over PC/SC (pcscd on Linux, the smart-card service on Windows): one connection per read,
one VERIFY at most per read, and every failure a ``CardFailed`` with a reason the screens translate."""

from __future__ import annotations

from ..drivers import CardFailed, DeviceStatus
from . import licence, mynumber, residence
from .transport import CardConnection, Context


class PcscCardReader:
    """``MADOGUCHI_CARD_READER=pcsc`` (the first reader) or ``pcsc:<part of the reader's name>``."""

    def __init__(self, reader_name: str = "") -> None:
        self.reader_name = reader_name

    def read(self, *, kind: str, pin: str) -> dict[str, str]:
        if kind not in ("mynumber", "mynumber_b", "licence", "residence"):
            raise CardFailed("unknown_card", f"unknown card kind {kind!r}")
        with Context() as context:
            card = CardConnection(context, context.reader(self.reader_name), reset=True)
            try:
                if kind == "licence":
                    return licence.read(card, pin=pin)
                if kind == "residence":
                    return residence.read(card, card_number=pin)
                return mynumber.read(card, pin=pin, code_b=kind == "mynumber_b")
            finally:
                card.close()

    def retries(self, *, kind: str) -> int | None:
        if kind not in ("mynumber", "licence"):
            raise CardFailed("unknown_card", f"no PIN retry counter for card kind {kind!r}")
        with Context() as context:
            card = CardConnection(context, context.reader(self.reader_name), reset=True)
            try:
                return licence.retries(card) if kind == "licence" else mynumber.retries(card)
            finally:
                card.close()

    def status(self) -> DeviceStatus:
        try:
            with Context() as context:
                name = context.reader(self.reader_name)
        except CardFailed as failed:
            state = "absent" if failed.reason == "reader_missing" else "error"
            return DeviceStatus("card_reader", "pcsc", state, str(failed))
        return DeviceStatus("card_reader", "pcsc", "ok", name)
