"""QR codes scanned at the counter (R-I1), read by a small registry of payload parsers.

A payload is ``<scheme>:<body>``. The built-in scheme ``MDG1-ATENA`` carries a 宛名番号 with its check digit, as
printed on the city's own notices and on the 手続案内書; other schemes (pre-application, 転出証明書) add their
parser with ``qr_parser_register``. Whatever a scanner sends — a broken code, an unknown scheme, garbage — is
refused with a message naming what is wrong, never guessed at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from madoguchi.moji.checkdigit import is_valid

MAX_PAYLOAD = 2000


class QrInvalid(ValueError):
    """The scanned text is not a QR code the counter can read; the message says why."""


@dataclass(frozen=True)
class QrPayload:
    scheme: str
    atena_no: str = ""


QrParser = Callable[[str], QrPayload]
_PARSERS: dict[str, QrParser] = {}


def qr_parser_register(scheme: str, parser: QrParser) -> None:
    _PARSERS[scheme.upper()] = parser


def _atena(body: str) -> QrPayload:
    number = body.strip()
    if not (number.isascii() and number.isdigit()):
        raise QrInvalid(f"QRコードの宛名番号 {number[:20]!r} は数字ではありません")
    if not is_valid(number, ten=settings.MADOGUCHI_CHECK_DIGIT_TEN):
        raise QrInvalid(f"QRコードの宛名番号 {number} はチェックデジットが合いません")
    return QrPayload(scheme="MDG1-ATENA", atena_no=number)


qr_parser_register("MDG1-ATENA", _atena)


def qr_parse(text: str) -> QrPayload:
    """The payload of a scanned QR code; QrInvalid for anything else."""
    text = text.strip().lstrip("\ufeff")
    if not text:
        raise QrInvalid("QRコードが読み取れませんでした（空です）")
    if len(text) > MAX_PAYLOAD:
        raise QrInvalid(f"QRコードが長すぎます（{len(text)} 文字）")
    scheme, colon, body = text.partition(":")
    if not colon:
        raise QrInvalid("この窓口で使えるQRコードではありません（形式が違います）")
    parser = _PARSERS.get(scheme.upper())
    if parser is None:
        raise QrInvalid(f"この窓口で使えるQRコードではありません（種類 {scheme[:20]!r}）")
    return parser(body)
