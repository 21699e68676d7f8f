"""One PC/SC connection to a card, through pyscard's thin ``smartcard.scard`` layer so that every PC/SC error
code maps to one ``CardFailed`` reason.

APDUs are logged at DEBUG for troubleshooting, but only their shape: the header, the data of SELECT commands (file
and application ids are not secrets) and the status word. Command data of any other instruction (a VERIFY's PIN,
a MUTUAL AUTHENTICATE's cryptogram) and all response data (names, addresses, individual numbers) are shown as a
byte count only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import TracebackType

from smartcard import scard

from ..drivers import CardFailed

logger = logging.getLogger("devices.agent.cards")

INS_SELECT = 0xA4

# PC/SC answers that mean the card went away while we talked to it.
_REMOVED = {
    scard.SCARD_W_REMOVED_CARD,
    scard.SCARD_W_RESET_CARD,
    scard.SCARD_W_UNPOWERED_CARD,
    scard.SCARD_W_UNRESPONSIVE_CARD,
    scard.SCARD_E_NOT_TRANSACTED,
    scard.SCARD_E_NO_SMARTCARD,
    scard.SCARD_E_COMM_DATA_LOST,
    scard.SCARD_F_COMM_ERROR,
}
_NO_READER = {
    scard.SCARD_E_NO_READERS_AVAILABLE,
    scard.SCARD_E_UNKNOWN_READER,
    scard.SCARD_E_READER_UNAVAILABLE,
}


def pcsc_message(code: int) -> str:
    return f"{scard.SCardGetErrorMessage(code).strip()} (0x{code & 0xFFFFFFFF:08X})"


def hexs(data: bytes) -> str:
    return data.hex(" ").upper()


@dataclass(frozen=True)
class Response:
    data: bytes
    sw: int

    @property
    def ok(self) -> bool:
        return self.sw == 0x9000


def describe_command(apdu: bytes) -> str:
    """The APDU as it may be logged: header, SELECT data in clear, any other data as a byte count."""
    header, body = apdu[:4], apdu[4:]
    if not body:
        return hexs(header)
    if len(body) == 1:
        return f"{hexs(header)} Le={body[0]:02X}"
    if apdu[1] == INS_SELECT:
        return f"{hexs(header)} {hexs(body)}"
    return f"{hexs(header)} [{body[0]} bytes of data]"


class Context:
    """A PC/SC context (the connection to pcscd or Windows' smart-card service)."""

    def __init__(self) -> None:
        result, self.handle = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if result != scard.SCARD_S_SUCCESS:
            raise CardFailed("reader_error", f"PC/SC is not available: {pcsc_message(result)}")

    def readers(self) -> list[str]:
        result, names = scard.SCardListReaders(self.handle, [])
        if result in _NO_READER:
            return []
        if result != scard.SCARD_S_SUCCESS:
            raise CardFailed("reader_error", f"cannot list card readers: {pcsc_message(result)}")
        return list(names)

    def reader(self, name_part: str) -> str:
        """The first reader whose name contains ``name_part`` (any reader for ""); CardFailed reader_missing."""
        for name in self.readers():
            if name_part in name:
                return name
        wanted = f"containing {name_part!r}" if name_part else "at all"
        raise CardFailed("reader_missing", f"no card reader {wanted} is connected")

    def close(self) -> None:
        scard.SCardReleaseContext(self.handle)

    def __enter__(self) -> Context:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class CardConnection:
    """A connection to the card in one reader; ``transmit`` sends one APDU and never retries.

    ``reset=True`` (ID cards) holds a PC/SC transaction for the whole read, so no other program's APDUs come in
    between, and resets the card when done, so the PIN's security state does not outlive the read for whoever
    connects next."""

    def __init__(self, context: Context, reader: str, *, reset: bool = False) -> None:
        self.reader, self.reset, self.gone = reader, reset, False
        result, self.handle, self.protocol = scard.SCardConnect(
            context.handle,
            reader,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        if result in (scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_REMOVED_CARD):
            raise CardFailed("no_card", f"no card in the reader {reader!r}")
        if result in _NO_READER:
            raise CardFailed("reader_missing", f"the card reader {reader!r} is gone: {pcsc_message(result)}")
        if result != scard.SCARD_S_SUCCESS:
            raise CardFailed(
                "reader_error", f"cannot connect to the card in {reader!r}: {pcsc_message(result)}"
            )
        if reset:
            result = scard.SCardBeginTransaction(self.handle)
            if result != scard.SCARD_S_SUCCESS:
                scard.SCardDisconnect(self.handle, scard.SCARD_LEAVE_CARD)
                raise CardFailed("reader_error", f"the card in {reader!r} is busy: {pcsc_message(result)}")

    def transmit(self, apdu: bytes) -> Response:
        logger.debug("APDU > %s", describe_command(apdu))
        pci = scard.SCARD_PCI_T1 if self.protocol == scard.SCARD_PROTOCOL_T1 else scard.SCARD_PCI_T0
        result, answer = scard.SCardTransmit(self.handle, pci, list(apdu))
        if result in _REMOVED:
            self.gone = True
            logger.debug("APDU < PC/SC %s", pcsc_message(result))
            raise CardFailed("card_removed", "the card was removed during the read; nothing was read")
        if result != scard.SCARD_S_SUCCESS:
            raise CardFailed(
                "reader_error", f"the reader failed to exchange a command: {pcsc_message(result)}"
            )
        if not answer:
            self.gone = True
            # A card that answers nothing at all is gone: vpcd reports a pulled card this way, where a USB
            # reader reports SCARD_W_REMOVED_CARD.
            raise CardFailed("card_removed", "the card stopped answering during the read; nothing was read")
        if len(answer) < 2:
            raise CardFailed("malformed", f"the card answered {len(answer)} bytes, less than a status word")
        response = Response(bytes(answer[:-2]), answer[-2] << 8 | answer[-1])
        logger.debug("APDU < %04X [%d bytes of data]", response.sw, len(response.data))
        return response

    def close(self) -> None:
        reset = self.reset and not self.gone  # a card that left needs no reset (and vpcd chokes on one)
        if self.reset:
            scard.SCardEndTransaction(self.handle, scard.SCARD_LEAVE_CARD)
        scard.SCardDisconnect(self.handle, scard.SCARD_RESET_CARD if reset else scard.SCARD_LEAVE_CARD)


def expect_ok(response: Response, what: str, *, reason: str = "malformed") -> bytes:
    """The response's data, or CardFailed(reason) naming the step and the status word."""
    if not response.ok:
        raise CardFailed(reason, f"{what}: the card answered {response.sw:04X}")
    return response.data


def read_binary(card: CardConnection, length: int, what: str, *, offset: int = 0) -> bytes:
    """Up to ``length`` bytes of the selected file from ``offset``, in reads of at most 255 bytes (offset in
    P1P2). A shorter answer is the end of the file: what was asked for is then cut, which the TLV walker reports."""
    data = b""
    while len(data) < length:
        chunk = min(255, length - len(data))
        at = offset + len(data)
        got = expect_ok(card.transmit(bytes([0x00, 0xB0, at >> 8, at & 0xFF, chunk])), f"reading {what}")
        data += got
        if len(got) < chunk:
            break
    return data[:length]


def select_file(card: CardConnection, file_id: int, what: str, *, reason: str = "malformed") -> None:
    expect_ok(
        card.transmit(bytes([0x00, 0xA4, 0x02, 0x0C, 0x02, file_id >> 8, file_id & 0xFF])),
        f"selecting {what}",
        reason=reason,
    )


def select_application(card: CardConnection, aid: bytes, what: str) -> None:
    """Select an application by name; a card without it is not the card the clerk asked for."""
    response = card.transmit(bytes([0x00, 0xA4, 0x04, 0x0C, len(aid)]) + aid)
    if not response.ok:
        raise CardFailed(
            "unknown_card", f"the card in the reader is not a {what} (no application {hexs(aid)})"
        )


def retry_counter(card: CardConnection, p2: int, what: str) -> int | None:
    """The tries left of the PIN ``p2`` of the selected application, read with a VERIFY without data (which uses
    no try): ``63 Cx`` → x. None when the card answers ``90 00`` (verified already in this connection). Raises
    CardFailed("locked") at 0 tries or ``69 83``."""
    counter = card.transmit(bytes([0x00, 0x20, 0x00, p2]))
    retries = counter.sw & 0x0F if counter.sw & 0xFFF0 == 0x63C0 else None
    if counter.sw == 0x6983 or retries == 0:
        raise CardFailed("locked", f"the card's {what} is locked", 0)
    if retries is None and not counter.ok:
        raise CardFailed("malformed", f"reading the {what} retry counter: the card answered {counter.sw:04X}")
    return retries


def retries_then_verify(card: CardConnection, p2: int, secret: bytes, what: str) -> None:
    """Read the retry counter with a VERIFY without data (which uses no try), refuse when the card is locked,
    then send exactly one VERIFY with ``secret``. Never retries: a wrong PIN goes back to the person."""
    retries = retry_counter(card, p2, what)
    result = card.transmit(bytes([0x00, 0x20, 0x00, p2, len(secret)]) + secret)
    if result.ok:
        return
    if result.sw & 0xFFF0 == 0x63C0:
        # The last wrong try is still wrong_pin (with 0 left), as with the simulated card; the next read is locked.
        raise CardFailed("wrong_pin", f"wrong {what}", result.sw & 0x0F)
    if result.sw == 0x6983:
        raise CardFailed("locked", f"the card's {what} is locked", 0)
    raise CardFailed("malformed", f"verifying the {what}: the card answered {result.sw:04X}", retries)
