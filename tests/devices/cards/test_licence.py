"""The driver's-licence driver against a virtual IC運転免許証 in a real pcscd: common data without a PIN, 記載事項
with PIN1 decoded from JIS X 0208, and clean errors for codes that are no character."""

from __future__ import annotations

import logging

import pytest

from devices.agent.cards.pcsc import PcscCardReader
from devices.agent.drivers import CardFailed

from .virtual import VirtualLicence, VirtualMyNumberCard, ber, jis

READER = PcscCardReader("Virtual PCD 00 00")
PIN1 = "2580"


def failure(pin: str) -> CardFailed:
    with pytest.raises(CardFailed) as failed:
        READER.read(kind="licence", pin=pin)
    return failed.value


def test_the_common_data_needs_no_pin(insert) -> None:
    card = insert(VirtualLicence(pin1=PIN1))
    assert READER.read(kind="licence", pin="") == {
        "spec_version": "008",
        "issue_date": "2024-03-15",
        "expiry_date": "2029-04-15",
    }
    assert not any(apdu[1] == 0x20 for apdu in card.apdus), "no VERIFY at all, not even the counter"


def test_pin1_opens_the_entries_decoded_from_jis_x_0208(insert) -> None:
    card = insert(VirtualLicence(pin1=PIN1))
    assert READER.read(kind="licence", pin=PIN1) == {
        "spec_version": "008",
        "issue_date": "2024-03-15",
        "expiry_date": "2029-04-15",
        "name": "渡邉　太郎",  # 邉: JIS X 0208 level 2, 0x6F37
        "kana": "ワタナベ　タロウ",
        "birth_date": "1990-01-01",  # 4 (平成) 02 01 01
        "address": "東京都千代田区霞が関二丁目１番２号",
        "licence_number": "301234567890",
    }
    assert card.apdus[3] == bytes.fromhex("00200081"), "PIN1's counter is read before its VERIFY"
    assert card.verifies_with_data(0x81) == 1


def test_pin1s_tries_left_are_read_without_spending_one(insert) -> None:
    card = insert(VirtualLicence(pin1=PIN1, retries=3))
    assert READER.retries(kind="licence") == 3
    assert card.verifies_with_data(0x81) == 0 and card.retries[0x81] == 3


def test_a_wrong_pin1_costs_one_try(insert, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    card = insert(VirtualLicence(pin1=PIN1, retries=3))
    failed = failure("7319")
    assert (failed.reason, failed.retries_left) == ("wrong_pin", 2)
    assert card.verifies_with_data(0x81) == 1 and card.retries[0x81] == 2
    assert "7319" not in caplog.text and "37 33 31 39" not in caplog.text
    assert not any(pin in str(failed) for pin in ("7319", "37333139", "37 33 31 39"))  # nor in the message


def test_a_locked_licence_gets_no_pin(insert) -> None:
    card = insert(VirtualLicence(pin1=PIN1, retries=0))
    assert failure(PIN1).reason == "locked"
    assert card.verifies_with_data(0x81) == 0


def test_a_code_that_is_no_character_names_the_field(insert) -> None:
    # Row 9 (0x29) is unassigned in JIS X 0208: vendors put 外字 there.
    insert(VirtualLicence(pin1=PIN1, name=jis("渡") + bytes([0x29, 0x21]) + jis("太郎")))
    failed = failure(PIN1)
    assert failed.reason == "malformed"
    assert "氏名" in str(failed) and "character 2" in str(failed)
    assert "渡" not in str(failed)


def test_a_cut_entries_file_is_malformed(insert) -> None:
    entries = ber(0x12, jis("渡邉　太郎")) + bytes.fromhex("17 40") + jis("東京都")
    insert(VirtualLicence(pin1=PIN1, entries=entries))
    failed = failure(PIN1)
    assert failed.reason == "malformed" and "tag 17" in str(failed)


def test_a_my_number_card_is_not_a_licence(insert) -> None:
    insert(VirtualMyNumberCard())
    assert failure("").reason == "unknown_card"
