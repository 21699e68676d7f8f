"""The My Number card driver against a virtual card in a real pcscd: PIN and 照合番号B paths, the retry counter
read before the one VERIFY, locked cards, a card pulled out mid-read, malformed files, and no PIN in any log."""

from __future__ import annotations

import logging

import pytest

from devices.agent.cards.pcsc import PcscCardReader
from devices.agent.drivers import CardFailed

from .virtual import VirtualMyNumberCard, ber

READER = PcscCardReader("Virtual PCD 00 00")
PIN = "4071"
CODE_B = "85040120309876"  # born 1985-04-01, expires 2030, security code 9876


def failure(kind: str, pin: str) -> CardFailed:
    with pytest.raises(CardFailed) as failed:
        READER.read(kind=kind, pin=pin)
    return failed.value


def test_the_right_pin_reads_the_basic_4_and_the_individual_number(insert) -> None:
    card = insert(VirtualMyNumberCard(pin=PIN))
    assert READER.read(kind="mynumber", pin=PIN) == {
        "name": "窓口　花子",
        "address": "東京都千代田区霞が関一丁目1番1号",
        "birth_date": "1985-04-01",
        "sex": "2",
        "individual_number": "123456789018",
    }
    assert card.apdus[2] == bytes.fromhex("00200080"), "the retry counter is read before the VERIFY"
    assert card.verifies_with_data(0x80) == 1


def test_a_wrong_pin_costs_exactly_one_try_and_is_not_retried(insert) -> None:
    card = insert(VirtualMyNumberCard(pin=PIN, retries=3))
    failed = failure("mynumber", "1111")
    assert (failed.reason, failed.retries_left) == ("wrong_pin", 2)
    assert card.verifies_with_data(0x80) == 1
    assert card.counters[0x0011] == 2
    assert READER.read(kind="mynumber", pin=PIN)["individual_number"] == "123456789018"
    assert card.counters[0x0011] == 3, "the right PIN resets the card's counter"


def test_the_last_try_reports_zero_left_and_a_locked_card_gets_no_verify(insert) -> None:
    card = insert(VirtualMyNumberCard(pin=PIN, retries=1))
    failed = failure("mynumber", "1111")
    assert (failed.reason, failed.retries_left) == ("wrong_pin", 0)
    locked = failure("mynumber", PIN)
    assert (locked.reason, locked.retries_left) == ("locked", 0)
    assert card.verifies_with_data(0x80) == 1, "the locked card saw the counter read only, no PIN"


def test_the_tries_left_are_read_before_the_pin_is_typed_without_spending_one(insert) -> None:
    card = insert(VirtualMyNumberCard(pin=PIN, retries=2))
    assert READER.retries(kind="mynumber") == 2
    assert card.verifies_with_data(0x80) == 0 and card.counters[0x0011] == 2
    assert card.apdus[-1] == bytes.fromhex("00200080")


def test_the_probe_of_a_locked_card_says_locked(insert) -> None:
    card = insert(VirtualMyNumberCard(pin=PIN, retries=0))
    with pytest.raises(CardFailed) as locked:
        READER.retries(kind="mynumber")
    assert (locked.value.reason, locked.value.retries_left) == ("locked", 0)
    assert card.verifies_with_data(0x80) == 0


def test_a_locked_card_from_the_start(insert) -> None:
    card = insert(VirtualMyNumberCard(pin=PIN, retries=0))
    assert failure("mynumber", PIN).reason == "locked"
    assert card.verifies_with_data(0x80) == 0


def test_a_pin_that_is_not_4_digits_is_refused_before_the_card_is_asked(insert) -> None:
    card = insert(VirtualMyNumberCard(pin=PIN))
    assert failure("mynumber", "12a4").reason == "wrong_pin"
    assert card.verifies_with_data(0x80) == 0 and card.counters[0x0011] == 3


def test_shokai_bango_b_opens_the_same_application(insert) -> None:
    card = insert(VirtualMyNumberCard(code_b=CODE_B))
    data = READER.read(kind="mynumber_b", pin=CODE_B)
    assert data["name"] == "窓口　花子" and data["individual_number"] == "123456789018"
    assert bytes.fromhex("00A4020C020013") in card.apdus, "照合番号B is verified against EF 0013"
    assert bytes.fromhex("00A4020C020011") not in card.apdus
    wrong = failure("mynumber_b", "85040120300000")
    assert wrong.reason == "wrong_pin" and wrong.retries_left == card.counters[0x0013] == 9
    assert card.counters[0x0011] == 3, "照合番号B tries do not touch the PIN's counter"
    assert failure("mynumber_b", "850401").reason == "wrong_pin"  # too short: never sent


def test_a_card_pulled_out_mid_read_is_card_removed(insert) -> None:
    # 6 APDUs answered: select AP, select PIN file, counter, VERIFY, select EF 0001, read it; gone at the 7th.
    card = insert(VirtualMyNumberCard(pin=PIN, remove_after=6))
    failed = failure("mynumber", PIN)
    assert failed.reason == "card_removed", failed
    assert len(card.apdus) == 7


def test_an_empty_reader_and_a_missing_reader(pcscd) -> None:
    assert failure("mynumber", PIN).reason == "no_card"
    with pytest.raises(CardFailed) as missing:
        PcscCardReader("RC-S300").read(kind="mynumber", pin=PIN)
    assert missing.value.reason == "reader_missing"
    assert READER.status().status == "ok"
    assert PcscCardReader("RC-S300").status().status == "absent"


def test_an_other_card_is_unknown_card(insert) -> None:
    card = insert(VirtualMyNumberCard(aid=bytes.fromhex("D392F000260100000001")))
    assert failure("mynumber", PIN).reason == "unknown_card"
    assert card.verifies_with_data(0x80) == 0


def test_a_value_cut_short_is_malformed(insert) -> None:
    # DF23 (address) says 0x40 bytes, but the FF20 template ends after 5 of them.
    inner = ber(0xDF21, bytes(8)) + ber(0xDF22, "窓口".encode()) + bytes.fromhex("DF2340") + b"Tokyo"
    insert(VirtualMyNumberCard(pin=PIN, basic4=ber(0xFF20, inner)))
    failed = failure("mynumber", PIN)
    assert failed.reason == "malformed" and "tag DF23" in str(failed)


def test_lenient_tlv_short_lengths_and_trailing_garbage(insert) -> None:
    inner = (
        ber(0xDF21, bytes(8))
        + ber(0xDF22, "髙橋　𠮷男".encode())
        + ber(0xDF23, "大阪府".encode() * 50)  # 450 bytes: 82 HH LL
        + ber(0xDF24, b"20010203")
        + ber(0xDF25, b"1")
        + bytes.fromhex("DF 26 7F 00 01 02")  # garbage after the known tags, its length running off the end
    )
    insert(VirtualMyNumberCard(pin=PIN, basic4=ber(0xFF20, inner) + b"\x00" * 40))
    data = READER.read(kind="mynumber", pin=PIN)
    assert data["name"] == "髙橋　𠮷男" and data["address"] == "大阪府" * 50
    assert (data["birth_date"], data["sex"]) == ("2001-02-03", "1")


def test_the_pin_is_in_no_log_line_and_no_exception(insert, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    insert(VirtualMyNumberCard(pin=PIN))
    wrong = "9182"
    failed = failure("mynumber", wrong)
    READER.read(kind="mynumber", pin=PIN)
    assert "APDU > 00 20 00 80" in caplog.text, "the APDU log is on, so the assertions below can fail"
    for secret in (PIN, wrong, PIN.encode().hex(" "), wrong.encode().hex(" ").upper(), PIN.encode().hex()):
        assert secret not in caplog.text
        assert secret not in str(failed) and secret not in repr(failed.args)
    for personal in ("123456789018", "窓口", "霞が関"):
        assert personal not in caplog.text
