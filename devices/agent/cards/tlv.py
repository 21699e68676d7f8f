"""A lenient BER-TLV walker for card files.

Real cards are loose about BER: the My Number card writes tags in the high-tag-number form even below 31
(``DF 22`` where BER would allow one byte), lengths come short (``LL``) or long (``81 LL``, ``82 HH LL``), and files
are padded after their data (``00`` or ``FF`` bytes, or leftovers of an older write). So the walker reads what it is
asked for and stops there; only a value that runs past the end of the data is an error, since the field is cut.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator


class TLVError(ValueError):
    """The data is not TLV where it must be; the message names the tag and the offset (never the value)."""


def _tag(data: bytes, at: int) -> tuple[int, int]:
    tag, at = data[at], at + 1
    if tag & 0x1F == 0x1F:  # high-tag-number form: more tag bytes while bit 8 is set
        while True:
            if at >= len(data):
                raise TLVError(f"tag starting at offset {at - 1} is cut off")
            tag, at = tag << 8 | data[at], at + 1
            if not data[at - 1] & 0x80:
                break
    return tag, at


def _length(data: bytes, at: int, tag: int) -> tuple[int, int]:
    if at >= len(data):
        raise TLVError(f"tag {tag:02X} at the end of the data has no length")
    first, at = data[at], at + 1
    if first < 0x80:
        return first, at
    count = first & 0x7F
    if count == 0 or count > 3 or at + count > len(data):
        raise TLVError(f"tag {tag:02X}: unusable length byte {first:02X}")
    return int.from_bytes(data[at : at + count], "big"), at + count


def header(data: bytes) -> tuple[int, int, int]:
    """(tag, length of the value, size of tag and length) of the TLV at the start of ``data``."""
    tag, at = _tag(data, 0)
    length, at = _length(data, at, tag)
    return tag, length, at


def walk(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Each (tag, value) in order. Stops at padding (a ``00`` or ``FF`` byte where a tag would start and nothing
    but padding after it); raises TLVError for a value cut short by the end of the data."""
    at = 0
    while at < len(data):
        if data[at] in (0x00, 0xFF) and not data[at:].strip(bytes([data[at]])):
            return
        start = at
        tag, at = _tag(data, at)
        length, at = _length(data, at, tag)
        if at + length > len(data):
            raise TLVError(
                f"tag {tag:02X} at offset {start} says {length} bytes but only {len(data) - at} follow"
            )
        yield tag, data[at : at + length]
        at += length


def fields(data: bytes, wanted: Iterable[int]) -> dict[int, bytes]:
    """The values of the ``wanted`` tags (first occurrence), reading no further once all are found, so trailing
    padding or garbage does not matter. A wanted tag that is missing is simply absent from the result."""
    missing, found = set(wanted), {}
    for tag, value in walk(data):
        if tag in missing:
            found[tag] = value
            missing.discard(tag)
            if not missing:
                break
    return found
