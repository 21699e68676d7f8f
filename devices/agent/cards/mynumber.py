"""My Number card (個人番号カード), 券面事項入力補助AP (card-input-assistance application).

Opened either with the 4-digit 券面事項入力補助用暗証番号 (PIN file ``00 11``) or with 照合番号B — birth date YYMMDD,
expiry year YYYY and the 4-digit security code printed on the card, 14 ASCII characters — against EF ``00 13``.
That EF id comes from public reverse-engineering write-ups, not from J-LIS's specification: confirm it there
before relying on the 照合番号B path in production. APDUs: docs/devices.md.
"""

from __future__ import annotations

import re

from ..drivers import CardFailed
from . import tlv
from .transport import (
    CardConnection,
    read_binary,
    retries_then_verify,
    retry_counter,
    select_application,
    select_file,
)

AID = bytes.fromhex("D3921000310001010408")
EF_PIN = 0x0011
EF_CODE_B = 0x0013
EF_INDIVIDUAL_NUMBER = 0x0001
EF_BASIC4 = 0x0002

TAG_INDIVIDUAL_NUMBER = 0xFF10
TAG_BASIC4 = 0xFF20
TAG_NAME, TAG_ADDRESS, TAG_BIRTH_DATE, TAG_SEX = 0xDF22, 0xDF23, 0xDF24, 0xDF25


def retries(card: CardConnection) -> int | None:
    """The PIN's tries left, read without spending one (shown to the resident before they type)."""
    select_application(card, AID, "My Number card (券面事項入力補助AP)")
    select_file(card, EF_PIN, "the PIN file")
    return retry_counter(card, 0x80, "PIN")


def read(card: CardConnection, *, pin: str, code_b: bool = False) -> dict[str, str]:
    """The basic 4 (name, address, birth date, sex) and the individual number, after one VERIFY."""
    if code_b:
        if not re.fullmatch(r"[0-9]{14}", pin):
            raise CardFailed("wrong_pin", "照合番号B must be 14 digits (YYMMDD, expiry year, security code)")
    elif not re.fullmatch(r"[0-9]{4}", pin):
        raise CardFailed("wrong_pin", "the PIN must be 4 digits")
    select_application(card, AID, "My Number card (券面事項入力補助AP)")
    what = "照合番号B" if code_b else "PIN"
    select_file(card, EF_CODE_B if code_b else EF_PIN, f"the {what} file")
    retries_then_verify(card, 0x80, pin.encode("ascii"), what)

    select_file(card, EF_INDIVIDUAL_NUMBER, "the individual-number file")
    number = _field(
        read_binary(card, 17, "the individual number"), TAG_INDIVIDUAL_NUMBER, "individual number"
    )
    if not re.fullmatch(rb"[0-9]{12}", number):
        raise CardFailed("malformed", "the individual number is not 12 digits")

    select_file(card, EF_BASIC4, "the basic-4 file")
    head = read_binary(card, 7, "the basic-4 header")
    try:
        tag, length, size = tlv.header(head)
    except tlv.TLVError as exc:
        raise CardFailed("malformed", f"basic-4 file: {exc}") from exc
    if tag != TAG_BASIC4:
        raise CardFailed("malformed", f"basic-4 file starts with tag {tag:02X}, not FF20")
    body = head + read_binary(card, size + length - len(head), "the basic-4 file", offset=len(head))
    basic4 = _field(body, TAG_BASIC4, "basic 4")
    try:
        found = tlv.fields(basic4, (TAG_NAME, TAG_ADDRESS, TAG_BIRTH_DATE, TAG_SEX))
    except tlv.TLVError as exc:
        raise CardFailed("malformed", f"basic-4 file: {exc}") from exc
    return {
        "name": _text(found, TAG_NAME, "name"),
        "address": _text(found, TAG_ADDRESS, "address"),
        "birth_date": _date(_text(found, TAG_BIRTH_DATE, "birth date")),
        "sex": _sex(_text(found, TAG_SEX, "sex")),
        "individual_number": number.decode("ascii"),
    }


def _field(data: bytes, tag: int, what: str) -> bytes:
    try:
        found = tlv.fields(data, (tag,))
    except tlv.TLVError as exc:
        raise CardFailed("malformed", f"{what}: {exc}") from exc
    if tag not in found:
        raise CardFailed("malformed", f"{what}: no tag {tag:04X}")
    return found[tag]


def _text(found: dict[int, bytes], tag: int, what: str) -> str:
    if tag not in found:
        raise CardFailed("malformed", f"basic-4 file has no {what} (tag {tag:04X})")
    try:
        return found[tag].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CardFailed(
            "malformed", f"basic-4 {what} (tag {tag:04X}) is not UTF-8 at byte {exc.start}"
        ) from None


def _date(value: str) -> str:
    if not re.fullmatch(r"[0-9]{8}", value):
        raise CardFailed("malformed", "basic-4 birth date is not YYYYMMDD")
    return f"{value[:4]}-{value[4:6]}-{value[6:]}"


def _sex(value: str) -> str:
    if value not in ("1", "2", "9"):
        raise CardFailed("malformed", "basic-4 sex is not an ISO 5218 code (1, 2 or 9)")
    return value
