"""The lenient TLV walker: the My Number card's loose BER, trailing padding and garbage, and cut values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.agent.cards import tlv

from .virtual import ber


def test_high_tag_form_and_long_lengths() -> None:
    data = (
        ber(0xDF22, b"a")
        + ber(0xDF23, b"b" * 200)
        + ber(0xDF24, b"c" * 300)
        + ber(0x12, b"d", long_form=True)
    )
    assert [(tag, len(value)) for tag, value in tlv.walk(data)] == [
        (0xDF22, 1),
        (0xDF23, 200),
        (0xDF24, 300),
        (0x12, 1),
    ]
    assert tlv.header(ber(0xFF20, bytes(500))) == (0xFF20, 500, 5)


def test_padding_and_garbage_after_the_wanted_tags_are_ignored() -> None:
    data = ber(0xDF22, b"name") + ber(0xDF25, b"1") + bytes.fromhex("DF 26 82 FF FF 00")
    assert tlv.fields(data, (0xDF22, 0xDF25)) == {0xDF22: b"name", 0xDF25: b"1"}
    assert list(tlv.walk(ber(0x45, b"x") + b"\xff" * 10)) == [(0x45, b"x")]
    assert list(tlv.walk(ber(0x45, b"x") + b"\x00" * 10)) == [(0x45, b"x")]


def test_a_value_cut_short_is_an_error_naming_the_tag_and_offset() -> None:
    with pytest.raises(tlv.TLVError, match="tag DF23 at offset 7 says 64 bytes but only 3 follow"):
        tlv.fields(ber(0xDF22, b"name") + bytes.fromhex("DF2340") + b"abc", (0xDF22, 0xDF23))
    with pytest.raises(tlv.TLVError):
        tlv.header(bytes.fromhex("DF"))


@given(st.lists(st.tuples(st.sampled_from([0x12, 0x45, 0xDF22, 0xFF20, 0x5F1F]), st.binary(max_size=400))))
def test_what_is_built_is_walked_back(items: list[tuple[int, bytes]]) -> None:
    data = b"".join(ber(tag, value) for tag, value in items)
    assert list(tlv.walk(data)) == items
