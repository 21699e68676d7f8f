"""Driver's licence (IC運転免許証), read as the National Police Agency's specification lays it out (運転免許証及び
運転免許証作成システム等仕様書; tags from public write-ups of versions 008–010).

- MF/EF01 共通データ要素 (no PIN), 17 bytes: tag ``45`` (11 bytes: spec version, 3 ASCII characters; issue date and
  expiry date, each 4 bytes BCD ``YYYYMMDD``), then tag ``46`` (2 bytes: maker and key information, unused).
- PIN1 (``00 20 00 81``) unlocks DF1/EF01 記載事項, a TLV list of one-byte tags:

  | tag | field | encoding | used |
  |---|---|---|---|
  | 0x11 | JIS X 0208 制定年番号 | 1 byte | no |
  | 0x12 | 氏名 | JIS X 0208 | name |
  | 0x13 | 呼び名 | JIS X 0208 (katakana) | kana |
  | 0x14 | 通称名 | JIS X 0208 | no |
  | 0x15 | 統一氏名 | JIS X 0208 | no |
  | 0x16 | 生年月日 | era digit + YYMMDD, ASCII | birth_date |
  | 0x17 | 住所 | JIS X 0208 | address |
  | 0x18 | 交付年月日 | era digit + YYMMDD | no (common data) |
  | 0x1B–0x1F | 有効期間の末日, 免許の条件… | | no |
  | 0x21 | 免許証番号 | 12 ASCII digits | licence_number |

  Era digits: 1 明治, 2 大正, 3 昭和, 4 平成, 5 令和.

JIS X 0208 text is two bytes per character (row and cell, each 0x21–0x7E); adding 0x8080 gives EUC-JP, decoded
with Python's ``euc_jp`` codec, which knows exactly JIS X 0208 (1990, incl. 凜 and 熙) in that range: a code in the
unassigned rows (where vendors put 外字) is an error rather than a guess from JIS X 0213.
"""

from __future__ import annotations

import re

from ..drivers import CardFailed
from . import tlv
from .transport import CardConnection, expect_ok, read_binary, retries_then_verify, retry_counter, select_file

DF1_AID = bytes.fromhex("A0000002310100000000000000000000")
EF_COMMON = 0x2F01
EF_ENTRIES = 0x0001
ENTRIES_MAX = 880  # 記載事項 is about 880 bytes; read at most this much, walking the TLV leniently

TAG_COMMON, TAG_NAME, TAG_KANA, TAG_BIRTH_DATE, TAG_ADDRESS, TAG_NUMBER = 0x45, 0x12, 0x13, 0x16, 0x17, 0x21
JIS_TEXT = {TAG_NAME: "氏名 (name)", TAG_KANA: "呼び名 (kana)", TAG_ADDRESS: "住所 (address)"}
ERAS = {"1": 1868, "2": 1912, "3": 1926, "4": 1989, "5": 2019}


def retries(card: CardConnection) -> int | None:
    """PIN1's tries left, read without spending one (shown to the resident before they type)."""
    response = card.transmit(bytes([0x00, 0xA4, 0x00, 0x00]))
    if not response.ok:
        raise CardFailed("unknown_card", "the card in the reader is not a driver's licence (no MF)")
    return retry_counter(card, 0x81, "PIN1")


def read(card: CardConnection, *, pin: str) -> dict[str, str]:
    """The common data (spec version, issue and expiry dates); with PIN1 also the 記載事項. One VERIFY at most."""
    if pin and not re.fullmatch(r"[0-9]{4}", pin):
        raise CardFailed("wrong_pin", "PIN1 must be 4 digits")
    response = card.transmit(bytes([0x00, 0xA4, 0x00, 0x00]))
    if not response.ok:
        raise CardFailed("unknown_card", "the card in the reader is not a driver's licence (no MF)")
    select_file(card, EF_COMMON, "the licence's common data", reason="unknown_card")
    data = common_data(read_binary(card, 17, "the licence's common data"))
    if not pin:
        return data
    retries_then_verify(card, 0x81, pin.encode("ascii"), "PIN1")
    expect_ok(
        card.transmit(bytes([0x00, 0xA4, 0x04, 0x0C, len(DF1_AID)]) + DF1_AID), "selecting the licence's DF1"
    )
    select_file(card, EF_ENTRIES, "記載事項")
    entries = _read_entries(card)
    try:
        found = tlv.fields(entries, (TAG_NAME, TAG_KANA, TAG_BIRTH_DATE, TAG_ADDRESS, TAG_NUMBER))
    except tlv.TLVError as exc:
        raise CardFailed("malformed", f"記載事項: {exc}") from exc
    required = {TAG_NAME: "氏名", TAG_BIRTH_DATE: "生年月日", TAG_ADDRESS: "住所", TAG_NUMBER: "免許証番号"}
    for tag, what in required.items():
        if tag not in found:
            raise CardFailed("malformed", f"記載事項 has no {what} (tag {tag:02X})")
    number = found[TAG_NUMBER]
    if not re.fullmatch(rb"[0-9]{12}", number):
        raise CardFailed("malformed", "記載事項 免許証番号 (tag 21) is not 12 digits")
    return data | {
        "name": jis_x0208(found[TAG_NAME], JIS_TEXT[TAG_NAME]),
        "kana": jis_x0208(found.get(TAG_KANA, b""), JIS_TEXT[TAG_KANA]),
        "birth_date": wareki_date(found[TAG_BIRTH_DATE], "生年月日 (birth date)"),
        "address": jis_x0208(found[TAG_ADDRESS], JIS_TEXT[TAG_ADDRESS]),
        "licence_number": number.decode("ascii"),
    }


def _read_entries(card: CardConnection) -> bytes:
    """Read 記載事項 up to ENTRIES_MAX bytes; a file shorter than that simply ends (the card answers an error or
    nothing for the first offset past its end)."""
    data = b""
    while len(data) < ENTRIES_MAX:
        chunk = min(255, ENTRIES_MAX - len(data))
        response = card.transmit(bytes([0x00, 0xB0, len(data) >> 8, len(data) & 0xFF, chunk]))
        if not response.ok or not response.data:
            if not data:
                raise CardFailed("malformed", f"reading 記載事項: the card answered {response.sw:04X}")
            break
        data += response.data
    return data


def common_data(raw: bytes) -> dict[str, str]:
    try:
        found = tlv.fields(raw, (TAG_COMMON,))
    except tlv.TLVError as exc:
        raise CardFailed("malformed", f"licence common data: {exc}") from exc
    value = found.get(TAG_COMMON, b"")
    if len(value) < 11:
        raise CardFailed("malformed", "licence common data: tag 45 is missing or shorter than 11 bytes")
    return {
        "spec_version": value[:3].decode("ascii", errors="replace"),
        "issue_date": bcd_date(value[3:7], "交付年月日 (issue date)"),
        "expiry_date": bcd_date(value[7:11], "有効期間の末日 (expiry date)"),
    }


def bcd_date(raw: bytes, what: str) -> str:
    digits = raw.hex()
    if not re.fullmatch(r"[0-9]{8}", digits):
        raise CardFailed("malformed", f"licence {what} is not a BCD date")
    return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"


def wareki_date(raw: bytes, what: str) -> str:
    """Era digit + YYMMDD (和暦) → ISO date."""
    text = raw.decode("ascii", errors="replace")
    if not re.fullmatch(r"[1-5][0-9]{6}", text):
        raise CardFailed("malformed", f"記載事項 {what} is not an era digit and YYMMDD")
    return f"{ERAS[text[0]] + int(text[1:3]) - 1:04d}-{text[3:5]}-{text[5:7]}"


def jis_x0208(raw: bytes, what: str) -> str:
    """Two-byte JIS X 0208 codes → text, via EUC-JP (each byte + 0x80). An odd length or a code that is no
    character is a clean error naming the field and the character's position (not the text)."""
    if len(raw) % 2:
        raise CardFailed("malformed", f"記載事項 {what} has an odd number of bytes for JIS X 0208")
    chars = []
    for at in range(0, len(raw), 2):
        row, cell = raw[at], raw[at + 1]
        if not (0x21 <= row <= 0x7E and 0x21 <= cell <= 0x7E):
            raise CardFailed(
                "malformed", f"記載事項 {what}: character {at // 2 + 1} is not a JIS X 0208 code"
            )
        try:
            chars.append(bytes([row | 0x80, cell | 0x80]).decode("euc_jp"))
        except UnicodeDecodeError:
            raise CardFailed(
                "malformed", f"記載事項 {what}: character {at // 2 + 1} is an unassigned JIS X 0208 code"
            ) from None
    return "".join(chars)
