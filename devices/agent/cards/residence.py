"""Residence card (在留カード) and special permanent resident certificate (特別永住者証明書), read as the Immigration
Services Agency (出入国在留管理庁) publishes them:

- 1st generation (card type ``"1"`` 在留カード, ``"2"`` 特別永住者証明書): 「在留カード等仕様書（一般公開用）」Ver 1.5,
  令和6年3月 (moj.go.jp/isa/content/001414093.pdf);
- 2nd generation (card type ``"05"`` / ``"06"``): 「第２世代在留カード等仕様書（一般公開用）」Ver 1.1, 令和8年4月
  (moj.go.jp/isa/content/001460711.pdf).

Section numbers below are the specifications' own (both share the same outline); docs/devices.md ("Residence card")
has the table of what comes from where and what is still unconfirmed.

Both generations (§3.4.1 在留カード等番号による認証, §3.5.2 認証シーケンス, §4.2.2-4.2.4, 2nd gen. Appendix 1):

1. READ BINARY of MF/EF02 by short EF identifier (P1 ``8A``, free access): ``C1`` card type. No such file, or a card
   type this driver does not know → unknown_card, before anything secret is sent.
2. GET CHALLENGE ``00 84 00 00 08`` → RND.ICC.
3. K.Enc = K.Mac = the first 16 bytes of SHA-1 over the 12 ASCII characters of the card number.
   E.IFD = Enc(K.Enc, RND.IFD ‖ RND.ICC ‖ K.IFD), M.IFD = MAC(K.Mac, E.IFD);
   MUTUAL AUTHENTICATE ``00 82 00 00 28`` E.IFD ‖ M.IFD ``00``. A card opened with another number cannot check the
   MAC and answers ``63 00`` → wrong_card_number, with nothing read. The card answers E.ICC ‖ M.ICC over
   RND.ICC ‖ RND.IFD ‖ K.ICC, which we check in turn (a failure there is malformed: not a genuine card).
4. KS.Enc = the first 16 bytes of SHA-1(K.IFD ⊕ K.ICC ‖ ``00 00 00 01``). There is no MAC key, no send-sequence
   counter and no MAC in secure messaging: it only encrypts (§3.4.2).
5. VERIFY under secure messaging ``08 20 00 86 13`` ``86 11 01`` Enc(KS.Enc, card number ‖ ``80 00 …``): ``63 00``
   → wrong_card_number (``63 00`` carries no retry count; we never try twice all the same).
6. SELECT by DF name (``00 A4 04 0C 10`` AID) and READ BINARY by short EF identifier with the whole file asked for
   (extended Le ``00 00``): plainly ``00 B0 P1 00 00 00 00``, or under secure messaging
   ``08 B0 P1 00 00 00 04 96 02 00 00 00 00``, answered ``86 L 01`` Enc(KS.Enc, data ‖ ``80 00 …``) (§4.2.5).

Enc is CBC with a zero IV and no padding (the inputs are whole blocks): two-key 3DES in the 1st generation, AES-128
in the 2nd. MAC is ISO/IEC 9797-1 MAC algorithm 3 ("retail MAC", DES, padding method 2) in the 1st generation,
AES-CMAC cut to 8 bytes in the 2nd. SHA-1, single DES and 3DES are what the cards speak; they protect a session with
a card the clerk holds, keyed by the number printed on it, and nothing else.

What is read (§3.3.1 file structure, §3.3.4 data; only what the counter needs, never the face photo):

- 1st generation: DF1/EF01 (P1 ``85``, SM) ``D0`` the front side as an MMR-compressed TIFF — the only place the
  name, nationality, birth date, sex, status and period of stay are; DF2/EF01 (P1 ``81``, after authentication)
  ``D4`` the address as text (UTF-8 assumed, see docs/devices.md). ``front_image`` carries the TIFF (base64); name,
  nationality, birth_date, sex, status_of_residence and period_end are empty, since the card holds them only in that
  image.
- 2nd generation: DF1/EF01 (P1 ``81``, SM) ``C2`` the card number, which must equal the one typed; DF1/EF02 (P1
  ``83``, SM) the printed entries as text: ``C5`` card expiry, ``C6`` birth date, ``C7`` sex (1/2, 3 unspecified),
  ``C8`` nationality/region code, ``C9`` status-of-residence code, ``CD`` end of the period of stay. The name and
  the address exist only as images (``D0`` in DF1/EF03 next to the face photo, ``DFD1`` in DF1/EF04) and are not
  read: name and address are empty. Nationality and status of residence are codes from the Agency's code tables
  (given to businesses separately, not public), passed on as they are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher, algorithms, modes

from ..drivers import CardFailed
from . import tlv
from .transport import CardConnection, expect_ok

CARD_NUMBER = re.compile(r"[A-Z]{2}[0-9]{8}[A-Z]{2}")

# DF names (§3.3.2); DF3 holds the Agency's signature and certificate, which this driver does not check (yet).
DF1 = bytes.fromhex("D392F0004F02") + bytes(10)
DF2 = bytes.fromhex("D392F0004F03") + bytes(10)

# READ BINARY P1 with bit 8 set: a short EF identifier in bits 1-5 of the current DF (§4.2.5).
P1_CARD_TYPE = 0x8A  # MF/EF02, tag C1, free access
P1_FRONT_IMAGE = 0x85  # 1st gen. DF1/EF01, tag D0, card-number authentication and SM
P1_ADDRESS = 0x81  # 1st gen. DF2/EF01, tags D2 (date written), D3 (municipality code), D4 (address)
P1_CARD_NUMBER = 0x81  # 2nd gen. DF1/EF01, tag C2, card-number authentication and SM
P1_PRINTED = 0x83  # 2nd gen. DF1/EF02, tags C5-CE, card-number authentication and SM

FIRST_GENERATION = {"1": "在留カード", "2": "特別永住者証明書"}
SECOND_GENERATION = {"05": "第２世代在留カード", "06": "第２世代特別永住者証明書"}
# 特定在留カード等 (with the My Number card functions) follow a separate specification (在留AP, SET SESSION KEY
# with the Agency's RSA delivery key); they are not read here.
SPECIFIED = {"07", "08"}

SW_REFUSED = 0x6300
TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
SEXES = {"1": "1", "2": "2", "3": ""}  # 3: 未指定 (2nd gen.), nothing the forms can use


# --- cryptography -------------------------------------------------------------------------------------------


def pad(data: bytes, block: int) -> bytes:
    """ISO/IEC 9797-1 padding method 2 (ISO/IEC 7816-4): ``80`` then zeros to the block."""
    data += b"\x80"
    return data + bytes(-len(data) % block)


def unpad(data: bytes) -> bytes:
    stripped = data.rstrip(b"\x00")
    if not stripped.endswith(b"\x80"):
        raise CardFailed("malformed", "secure messaging: the decrypted data has no ISO/IEC 7816-4 padding")
    return stripped[:-1]


def _cbc(algorithm: BlockCipherAlgorithm, data: bytes, *, decrypt: bool = False) -> bytes:
    cipher = Cipher(algorithm, modes.CBC(bytes(algorithm.block_size // 8)))
    op = cipher.decryptor() if decrypt else cipher.encryptor()
    return op.update(data) + op.finalize()


def two_key_3des(key: bytes) -> TripleDES:
    """3DES-EDE with K1 ‖ K2 ‖ K1 from a 16-byte key."""
    return TripleDES(key + key[:8])


def des(key: bytes) -> TripleDES:
    """Single DES: 3DES-EDE with the same 8-byte key three times."""
    return TripleDES(key * 3)


def retail_mac(key: bytes, data: bytes) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 with DES and padding method 2: a DES CBC-MAC under the key's first half, then
    the last block decrypted under the second half and encrypted under the first. One block through CBC with a zero
    IV is that block through the bare cipher."""
    first, second = des(key[:8]), des(key[8:16])
    chained = _cbc(first, pad(data, 8))[-8:]
    return _cbc(first, _cbc(second, chained, decrypt=True))


def aes_cmac8(key: bytes, data: bytes) -> bytes:
    mac = cmac.CMAC(algorithms.AES(key))
    mac.update(data)
    return mac.finalize()[:8]


@dataclass(frozen=True)
class Suite:
    """One generation's cryptography: the block cipher (CBC, zero IV) of the cryptograms and of secure messaging,
    and the MAC of MUTUAL AUTHENTICATE."""

    name: str
    block: int
    algorithm: Callable[[bytes], BlockCipherAlgorithm]
    mac: Callable[[bytes, bytes], bytes]

    def encrypt(self, key: bytes, data: bytes) -> bytes:
        return _cbc(self.algorithm(key), data)

    def decrypt(self, key: bytes, data: bytes) -> bytes:
        return _cbc(self.algorithm(key), data, decrypt=True)


FIRST = Suite("two-key 3DES, retail MAC", 8, two_key_3des, retail_mac)
SECOND = Suite("AES-128, AES-CMAC", 16, algorithms.AES, aes_cmac8)


def card_key(card_number: str) -> bytes:
    """K.Enc, which is also K.Mac: the first 16 bytes of SHA-1 over the card number's 12 ASCII characters."""
    return hashlib.sha1(card_number.encode("ascii")).digest()[:16]  # noqa: S324 - the specification's derivation


def session_key(k_ifd: bytes, k_icc: bytes) -> bytes:
    """KS.Enc: the first 16 bytes of SHA-1((K.IFD ⊕ K.ICC) ‖ 00 00 00 01)."""
    seed = bytes(a ^ b for a, b in zip(k_ifd, k_icc, strict=True))
    return hashlib.sha1(seed + b"\x00\x00\x00\x01").digest()[:16]  # noqa: S324 - the specification's derivation


def mutual_authenticate_apdu(suite: Suite, key: bytes, rnd_ifd: bytes, rnd_icc: bytes, k_ifd: bytes) -> bytes:
    """``00 82 00 00 28`` E.IFD ‖ M.IFD ``00``."""
    e_ifd = suite.encrypt(key, rnd_ifd + rnd_icc + k_ifd)
    return bytes.fromhex("0082000028") + e_ifd + suite.mac(key, e_ifd) + b"\x00"


def card_half(suite: Suite, key: bytes, answer: bytes, rnd_icc: bytes, rnd_ifd: bytes) -> bytes:
    """K.ICC from MUTUAL AUTHENTICATE's answer E.ICC ‖ M.ICC, once its MAC and both challenges check out."""
    if len(answer) != 40 or not hmac.compare_digest(suite.mac(key, answer[:32]), answer[32:]):
        raise CardFailed("malformed", "MUTUAL AUTHENTICATE: the card's answer does not verify")
    plain = suite.decrypt(key, answer[:32])
    if not (hmac.compare_digest(plain[:8], rnd_icc) and hmac.compare_digest(plain[8:16], rnd_ifd)):
        raise CardFailed("malformed", "MUTUAL AUTHENTICATE: the card's answer does not match the challenges")
    return plain[16:]


def verify_apdu(suite: Suite, ks_enc: bytes, card_number: str) -> bytes:
    """VERIFY under secure messaging: ``08 20 00 86 13`` ``86 11 01`` and the encrypted, padded card number."""
    cryptogram = suite.encrypt(ks_enc, pad(card_number.encode("ascii"), suite.block))
    body = bytes([0x86, len(cryptogram) + 1, 0x01]) + cryptogram
    return bytes([0x08, 0x20, 0x00, 0x86, len(body)]) + body


# --- commands -----------------------------------------------------------------------------------------------


def read_card_type(card: CardConnection) -> str:
    """MF/EF02 (free access): its header first, then the whole ``C1`` object, as the type is 1 or 2 characters."""
    head = card.transmit(bytes([0x00, 0xB0, P1_CARD_TYPE, 0x00, 0x02]))
    if not head.ok or len(head.data) != 2 or head.data[0] != 0xC1 or not 1 <= head.data[1] <= 2:
        raise CardFailed(
            "unknown_card", "the card in the reader is not a residence card (no card type in MF/EF02)"
        )
    whole = expect_ok(
        card.transmit(bytes([0x00, 0xB0, P1_CARD_TYPE, 0x00, 2 + head.data[1]])), "reading the card type"
    )
    try:
        return whole[2 : 2 + head.data[1]].decode("ascii")
    except UnicodeDecodeError:
        raise CardFailed("unknown_card", "the card type in MF/EF02 is not text") from None


def authenticate(card: CardConnection, suite: Suite, card_number: str) -> bytes:
    """GET CHALLENGE, MUTUAL AUTHENTICATE and VERIFY with the card number, each once; KS.Enc for what follows."""
    rnd_icc = expect_ok(card.transmit(bytes.fromhex("0084000008")), "GET CHALLENGE")
    if len(rnd_icc) != 8:
        raise CardFailed("malformed", f"GET CHALLENGE: {len(rnd_icc)} bytes instead of 8")
    key, rnd_ifd, k_ifd = card_key(card_number), os.urandom(8), os.urandom(16)
    answer = card.transmit(mutual_authenticate_apdu(suite, key, rnd_ifd, rnd_icc, k_ifd))
    if answer.sw == SW_REFUSED:
        raise CardFailed(
            "wrong_card_number",
            "the card number does not open this residence card (MUTUAL AUTHENTICATE 63 00)",
        )
    ks_enc = session_key(
        k_ifd, card_half(suite, key, expect_ok(answer, "MUTUAL AUTHENTICATE"), rnd_icc, rnd_ifd)
    )
    verified = card.transmit(verify_apdu(suite, ks_enc, card_number))
    if verified.sw == SW_REFUSED:
        raise CardFailed(
            "wrong_card_number", "the card number does not open this residence card (VERIFY 63 00)"
        )
    expect_ok(verified, "VERIFY with the card number")
    return ks_enc


def select(card: CardConnection, aid: bytes, what: str) -> None:
    expect_ok(card.transmit(bytes([0x00, 0xA4, 0x04, 0x0C, len(aid)]) + aid), f"selecting {what}")


def read_plain(card: CardConnection, p1: int, what: str) -> bytes:
    """The whole EF ``p1`` (extended Le ``00 00``)."""
    return expect_ok(card.transmit(bytes([0x00, 0xB0, p1, 0x00, 0x00, 0x00, 0x00])), f"reading {what}")


def read_secured(card: CardConnection, suite: Suite, ks_enc: bytes, p1: int, what: str) -> bytes:
    """The whole EF ``p1`` under secure messaging: Le in ``96 02 00 00``, the answer ``86 L 01`` and the cryptogram."""
    answer = expect_ok(
        card.transmit(bytes([0x08, 0xB0, p1, 0x00, 0x00, 0x00, 0x04, 0x96, 0x02, 0x00, 0x00, 0x00, 0x00])),
        f"reading {what}",
    )
    try:
        tag, length, size = tlv.header(answer) if answer else (0, 0, 0)
    except tlv.TLVError as exc:
        raise CardFailed("malformed", f"secure messaging, {what}: {exc}") from exc
    value = answer[size : size + length]
    if tag != 0x86 or len(value) != length or len(value) < 1 + suite.block or (len(value) - 1) % suite.block:
        raise CardFailed("malformed", f"secure messaging, {what}: no encrypted data object 86")
    if value[0] != 0x01:
        raise CardFailed("malformed", f"secure messaging, {what}: padding indicator {value[0]:02X}, not 01")
    return unpad(suite.decrypt(ks_enc, value[1:]))


def _objects(data: bytes, wanted: tuple[int, ...], what: str) -> dict[int, bytes]:
    try:
        return tlv.fields(data, wanted)
    except tlv.TLVError as exc:
        raise CardFailed("malformed", f"{what}: {exc}") from exc


def _text(objects: dict[int, bytes], tag: int, what: str, *, required: bool = True) -> str:
    """A text data object: UTF-8 (the 2nd generation's §3.3.4 says so; see docs/devices.md for the 1st), NUL and
    blank padding removed."""
    if tag not in objects:
        if required:
            raise CardFailed("malformed", f"{what} (tag {tag:02X}) is missing")
        return ""
    try:
        return objects[tag].rstrip(b"\x00").decode("utf-8").strip()
    except UnicodeDecodeError:
        raise CardFailed("malformed", f"{what} (tag {tag:02X}) is not UTF-8") from None


def _date(value: str, what: str) -> str:
    """YYYYMMDD → YYYY-MM-DD; empty stays empty."""
    if not value:
        return ""
    if not re.fullmatch(r"[0-9]{8}", value):
        raise CardFailed("malformed", f"{what} is not YYYYMMDD")
    return f"{value[:4]}-{value[4:6]}-{value[6:]}"


# --- the two generations ------------------------------------------------------------------------------------


def read_first_generation(card: CardConnection, card_number: str, card_type: str) -> dict[str, str]:
    ks_enc = authenticate(card, FIRST, card_number)
    select(card, DF1, "DF1")
    front = _objects(
        read_secured(card, FIRST, ks_enc, P1_FRONT_IMAGE, "the front image (DF1/EF01)"),
        (0xD0,),
        "front image",
    )
    image = front.get(0xD0, b"")
    if not image.startswith(TIFF_MAGIC):
        raise CardFailed("malformed", "the front image (DF1/EF01, tag D0) is not a TIFF image")
    select(card, DF2, "DF2")
    back = _objects(read_plain(card, P1_ADDRESS, "the address (DF2/EF01)"), (0xD4,), "address file")
    return {
        "name": "",
        "nationality": "",
        "birth_date": "",
        "sex": "",
        "address": _text(back, 0xD4, "address"),
        # The card has no card-number file: this is the number it opened with, which MUTUAL AUTHENTICATE and
        # VERIFY proved.
        "card_number": card_number,
        "status_of_residence": "",
        "period_end": "",
        "card_type": card_type,
        "front_image": base64.b64encode(image).decode("ascii"),
    }


PRINTED_TAGS = (0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCD)


def read_second_generation(card: CardConnection, card_number: str, card_type: str) -> dict[str, str]:
    ks_enc = authenticate(card, SECOND, card_number)
    select(card, DF1, "DF1")
    number = _objects(
        read_secured(card, SECOND, ks_enc, P1_CARD_NUMBER, "the card number (DF1/EF01)"),
        (0xC2,),
        "card number",
    )
    if not hmac.compare_digest(number.get(0xC2, b"").rstrip(b"\x00"), card_number.encode("ascii")):
        raise CardFailed("malformed", "the card's own number differs from the one it was opened with")
    printed = _objects(
        read_secured(card, SECOND, ks_enc, P1_PRINTED, "the printed entries (DF1/EF02)"),
        PRINTED_TAGS,
        "printed entries",
    )
    sex = _text(printed, 0xC7, "sex")
    if sex not in SEXES:
        raise CardFailed("malformed", "sex (tag C7) is not 1, 2 or 3")
    return {
        "name": "",
        "nationality": _text(printed, 0xC8, "nationality/region"),
        "birth_date": _date(_text(printed, 0xC6, "birth date"), "birth date (tag C6)"),
        "sex": SEXES[sex],
        "address": "",
        "card_number": card_number,
        "status_of_residence": _text(printed, 0xC9, "status of residence", required=False),
        # 在留期間の満了日: residence cards only, a special permanent resident certificate has none.
        "period_end": _date(_text(printed, 0xCD, "period of stay", required=False), "period end (tag CD)"),
        "card_type": card_type,
        "card_expiry": _date(_text(printed, 0xC5, "card expiry"), "card expiry (tag C5)"),
    }


def read(card: CardConnection, *, card_number: str) -> dict[str, str]:
    """Read the residence card (or special permanent resident certificate) in ``card`` with the 12-character card
    number printed on it: the CARD_FIELDS of devices/agent/drivers.py (empty where the card holds an item only as
    an image), plus ``card_type`` and, by generation, ``front_image`` (1st, base64 TIFF) or ``card_expiry`` (2nd).

    A wrong card number is wrong_card_number before any data is read, and is never tried again."""
    if not CARD_NUMBER.fullmatch(card_number):
        raise CardFailed("wrong_card_number", "a residence card number is 2 letters, 8 digits and 2 letters")
    card_type = read_card_type(card)
    if card_type in FIRST_GENERATION:
        return read_first_generation(card, card_number, card_type)
    if card_type in SECOND_GENERATION:
        return read_second_generation(card, card_number, card_type)
    if card_type in SPECIFIED:
        raise CardFailed(
            "unknown_card",
            f"card type {card_type} is a 特定在留カード等, whose separate specification is not supported",
        )
    raise CardFailed(
        "unknown_card", f"card type {card_type!r} is not a residence card type this driver knows"
    )
