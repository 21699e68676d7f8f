"""The residence-card driver against a virtual 在留カード in a real pcscd, both generations: GET CHALLENGE, MUTUAL
AUTHENTICATE with keys from the card number, VERIFY of the card number under secure messaging, then the reads the
card allows only after it — and the driver's cryptography against the specifications' published examples."""

from __future__ import annotations

import base64
import logging

import pytest

from devices.agent.cards import residence
from devices.agent.cards.pcsc import PcscCardReader
from devices.agent.drivers import CARD_FIELDS, CardFailed

from .virtual import FRONT_TIFF, OK, VirtualMyNumberCard, VirtualResidenceCard, sw

READER = PcscCardReader("Virtual PCD 00 00")
CARD_NUMBER = "AB12345678CD"
ADDRESS = "東京都新宿区西新宿二丁目8番1号　都営住宅101号"

GET_CHALLENGE, MUTUAL_AUTHENTICATE, VERIFY, SELECT, READ_BINARY = 0x84, 0x82, 0x20, 0xA4, 0xB0


def failure(pin: str) -> CardFailed:
    with pytest.raises(CardFailed) as failed:
        READER.read(kind="residence", pin=pin)
    return failed.value


# --- the specifications' worked examples (no card needed) ----------------------------------------------------

# Both examples use card number AA12345678BB, RND.IFD 11 22 … 88 and K.IFD 40 41 … 4F.
EXAMPLE_NUMBER = "AA12345678BB"
RND_IFD = bytes.fromhex("1122334455667788")
K_IFD = bytes.fromhex("404142434445464748494A4B4C4D4E4F")
EXAMPLE_KEY = bytes.fromhex(
    "6522B4E171195BB218223A976C040111"
)  # SHA-1("AA12345678BB")[:16], both generations


def test_first_generation_cryptography_matches_the_specifications_example() -> None:
    # 「在留カード等仕様書（一般公開用）」Ver 1.5 (令和6年3月), the worked example of the card-number authentication
    # (§3.5.2 認証シーケンス; the appendix's calculation example). The values were taken from two independent
    # open-source readers that test against that example (the stored copy of the PDF could not be read past its
    # table of contents, so its page number is not confirmed here); they are consistent with each other end to end.
    rnd_icc = bytes.fromhex("5A6E7E385162B7A3")
    assert residence.card_key(EXAMPLE_NUMBER) == EXAMPLE_KEY
    assert residence.mutual_authenticate_apdu(residence.FIRST, EXAMPLE_KEY, RND_IFD, rnd_icc, K_IFD) == (
        bytes.fromhex("0082000028")
        + bytes.fromhex("937745C20883A1BAD1E04193722A1592378F81A8F1DC589157AEB0F7544FA1BA")  # E.IFD
        + bytes.fromhex("1AD7FB6A3389E017")  # M.IFD
        + b"\x00"
    )
    answer = bytes.fromhex(
        "5860775B4D032CC564BA204B8EA868F694A74E7475A8FEF240588BDA1AF496CE"  # E.ICC
        "59388FD6CD45248B"  # M.ICC
    )
    k_icc = residence.card_half(residence.FIRST, EXAMPLE_KEY, answer, rnd_icc, RND_IFD)
    assert k_icc == bytes.fromhex("19D049490FFF52EEDBFCB930BC810ED0")
    ks_enc = residence.session_key(K_IFD, k_icc)
    assert ks_enc == bytes.fromhex("CE94938E19E3B97DF96EABCEDC1715CC")
    assert residence.verify_apdu(residence.FIRST, ks_enc, EXAMPLE_NUMBER) == bytes.fromhex(
        "08200086138611011AA82973DB959A811F9711D728F0EEF6"
    )


def test_second_generation_cryptography_matches_the_specifications_example() -> None:
    # 「第２世代在留カード等仕様書（一般公開用）」Ver 1.1 (令和8年4月), 付録2 (Appendix 2), pp. 36-38: the
    # MUTUAL AUTHENTICATE command, E.ICC/M.ICC, K.ICC, KSenc and the VERIFY command of the example.
    rnd_icc = bytes.fromhex("921CE277323DA057")
    assert residence.mutual_authenticate_apdu(
        residence.SECOND, EXAMPLE_KEY, RND_IFD, rnd_icc, K_IFD
    ) == bytes.fromhex(
        "00820000284AD3C7B6BB484A52771977DED618B41DF841FA0476A05FBE041DEAD6109E773BAC854617634F539700"
    )
    answer = bytes.fromhex("289A96B1DA6AE3DA87770419BFD14F0BDAD15F36432B5A946C188C7221759A62FA942EC51E62FF5F")
    k_icc = residence.card_half(residence.SECOND, EXAMPLE_KEY, answer, rnd_icc, RND_IFD)
    assert k_icc == bytes.fromhex("2CC6AF9B8B607C662FDCAD27B401D08B")
    ks_enc = residence.session_key(K_IFD, k_icc)
    assert ks_enc == bytes.fromhex("C19CF13D3D7FBEE9EA293D834C88952F")
    assert residence.verify_apdu(residence.SECOND, ks_enc, EXAMPLE_NUMBER) == bytes.fromhex(
        "0820008613861101EE0B31EF877F68D071C56D58C72E6748"
    )


def test_an_answer_whose_mac_does_not_verify_is_refused() -> None:
    rnd_icc = bytes.fromhex("921CE277323DA057")
    answer = bytearray.fromhex(
        "289A96B1DA6AE3DA87770419BFD14F0BDAD15F36432B5A946C188C7221759A62FA942EC51E62FF5F"
    )
    answer[-1] ^= 0x01
    with pytest.raises(CardFailed) as failed:
        residence.card_half(residence.SECOND, EXAMPLE_KEY, bytes(answer), rnd_icc, RND_IFD)
    assert failed.value.reason == "malformed"


# --- reading through pcscd -----------------------------------------------------------------------------------


def test_the_right_card_number_reads_a_first_generation_card(insert, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    card = insert(VirtualResidenceCard(card_number=CARD_NUMBER, address=ADDRESS))
    data = READER.read(kind="residence", pin=CARD_NUMBER)
    assert set(CARD_FIELDS["residence"]) <= set(data)
    assert base64.b64decode(data.pop("front_image")) == FRONT_TIFF
    assert data == {
        # Only the address is text on a 1st-generation card; the rest is in the front image.
        "name": "",
        "nationality": "",
        "birth_date": "",
        "sex": "",
        "address": ADDRESS,
        "card_number": CARD_NUMBER,
        "status_of_residence": "",
        "period_end": "",
        "card_type": "1",
    }
    sent = [(apdu[0], apdu[1], apdu[2]) for apdu in card.apdus]
    assert sent == [
        (0x00, READ_BINARY, 0x8A),  # card type: header
        (0x00, READ_BINARY, 0x8A),  # card type
        (0x00, GET_CHALLENGE, 0x00),
        (0x00, MUTUAL_AUTHENTICATE, 0x00),
        (0x08, VERIFY, 0x00),  # card number, encrypted
        (0x00, SELECT, 0x04),  # DF1
        (0x08, READ_BINARY, 0x85),  # front image, secure messaging
        (0x00, SELECT, 0x04),  # DF2
        (0x00, READ_BINARY, 0x81),  # address
    ], "one try, and never the face photo (DF1 P1 86)"
    assert card.auth_failures == 0
    assert CARD_NUMBER not in caplog.text and "西新宿" not in caplog.text


def test_the_right_card_number_reads_a_second_generation_card(insert, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    card = insert(VirtualResidenceCard(card_number=CARD_NUMBER, generation=2))
    assert READER.read(kind="residence", pin=CARD_NUMBER) == {
        "name": "",  # an image next to the face photo (DF1/EF03): not read
        "nationality": "VNM",
        "birth_date": "1995-07-12",
        "sex": "1",
        "address": "",  # an image (DF1/EF04): not read
        "card_number": CARD_NUMBER,
        "status_of_residence": "14",
        "period_end": "2029-07-31",
        "card_type": "05",
        "card_expiry": "2031-07-31",
    }
    assert [(apdu[0], apdu[1], apdu[2]) for apdu in card.apdus][4:] == [
        (0x08, VERIFY, 0x00),
        (0x00, SELECT, 0x04),
        (0x08, READ_BINARY, 0x81),  # card number
        (0x08, READ_BINARY, 0x83),  # printed entries
    ]
    assert CARD_NUMBER not in caplog.text and "19950712" not in caplog.text


@pytest.mark.parametrize("generation", [1, 2])
def test_a_wrong_card_number_reads_nothing_and_is_not_retried(insert, caplog, generation) -> None:
    caplog.set_level(logging.DEBUG)
    card = insert(VirtualResidenceCard(card_number=CARD_NUMBER, generation=generation))
    failed = failure("AB12345678CE")
    assert failed.reason == "wrong_card_number"
    assert [apdu[1] for apdu in card.apdus] == [READ_BINARY, READ_BINARY, GET_CHALLENGE, MUTUAL_AUTHENTICATE]
    assert card.auth_failures == 1, "one MUTUAL AUTHENTICATE, refused; no second try"
    assert "AB12345678C" not in caplog.text + str(failed)


class VerifyRefusingCard(VirtualResidenceCard):
    """Passes MUTUAL AUTHENTICATE but refuses the card number in VERIFY (63 00)."""

    def verify_number(self, cla: int, p2: int, data: bytes) -> bytes:
        return sw(0x6300)


def test_a_card_number_refused_by_verify_reads_nothing(insert) -> None:
    card = insert(VerifyRefusingCard(card_number=CARD_NUMBER))
    assert failure(CARD_NUMBER).reason == "wrong_card_number"
    assert [apdu[1] for apdu in card.apdus][-2:] == [MUTUAL_AUTHENTICATE, VERIFY]
    assert sum(apdu[1] == VERIFY for apdu in card.apdus) == 1


def test_a_malformed_card_number_is_refused_before_the_card_is_asked(insert) -> None:
    card = insert(VirtualResidenceCard(card_number=CARD_NUMBER))
    assert failure("ab1234").reason == "wrong_card_number"
    assert card.apdus == []


def test_a_my_number_card_is_not_a_residence_card(insert) -> None:
    insert(VirtualMyNumberCard())
    assert failure(CARD_NUMBER).reason == "unknown_card"


def test_a_specified_residence_card_is_refused_before_authentication(insert) -> None:
    card = insert(VirtualResidenceCard(card_number=CARD_NUMBER, generation=2, card_type="07"))
    assert failure(CARD_NUMBER).reason == "unknown_card"
    assert [apdu[1] for apdu in card.apdus] == [READ_BINARY, READ_BINARY]


@pytest.mark.parametrize(("generation", "answered"), [(1, 3), (1, 6), (2, 7)])
def test_a_card_pulled_out_mid_read_is_card_removed(insert, generation, answered) -> None:
    # Gone during MUTUAL AUTHENTICATE (after 3 answers), or at the first secure-messaging read.
    card = insert(VirtualResidenceCard(card_number=CARD_NUMBER, generation=generation, remove_after=answered))
    assert failure(CARD_NUMBER).reason == "card_removed"
    assert len(card.apdus) == answered + 1


class ForgedAnswerCard(VirtualResidenceCard):
    """Answers MUTUAL AUTHENTICATE with a MAC that does not verify, as a card that does not hold the key would."""

    def mutual_authenticate(self, data: bytes) -> bytes:
        answer = super().mutual_authenticate(data)
        return answer[:-3] + bytes([answer[-3] ^ 0x01]) + answer[-2:] if answer.endswith(OK) else answer


class BadPaddingCard(VirtualResidenceCard):
    """Encrypts its secure-messaging answers without the 80 00 … padding."""

    def secure(self, plain: bytes) -> bytes:
        assert self.ks_enc is not None
        return bytes([0x86, 1 + 8 * 2, 0x01]) + self.crypt(self.ks_enc, bytes(16))


@pytest.mark.parametrize(
    ("card", "says"),
    [
        (ForgedAnswerCard(card_number=CARD_NUMBER), "does not verify"),
        (BadPaddingCard(card_number=CARD_NUMBER), "padding"),
        (VirtualResidenceCard(card_number=CARD_NUMBER, front_image=b"GIF89a" + bytes(100)), "TIFF"),
        (
            VirtualResidenceCard(card_number=CARD_NUMBER, address_file=b"\xd2\x08202404\xd4\x82\x01\x40abc"),
            "says",
        ),
        (VirtualResidenceCard(card_number=CARD_NUMBER, address_file=b"\xd4\x04\xff\xfe\xfd\xfc"), "UTF-8"),
        (
            VirtualResidenceCard(
                card_number=CARD_NUMBER, generation=2, printed={0xC6: "1995-07", 0xC7: "1", 0xC8: "VNM"}
            ),
            "C6",
        ),
        (VirtualResidenceCard(card_number=CARD_NUMBER, generation=2, printed={0xC6: "19950712"}), "C7"),
    ],
    ids=["forged-mutual-auth", "sm-padding", "not-tiff", "cut-tlv", "not-utf8", "bad-date", "no-sex"],
)
def test_malformed_card_data_is_refused(insert, card, says) -> None:
    insert(card)
    failed = failure(CARD_NUMBER)
    assert failed.reason == "malformed" and says in str(failed), failed
    if isinstance(card, ForgedAnswerCard):
        assert VERIFY not in [apdu[1] for apdu in card.apdus], "the card number goes to no card that failed"


def test_a_second_generation_card_with_another_number_inside_is_malformed(insert) -> None:
    class OtherNumberInside(VirtualResidenceCard):
        def __init__(self) -> None:
            super().__init__(card_number=CARD_NUMBER, generation=2)
            self.files[("DF1", 0x81)] = (b"\xc2\x0cAB12345678CE", "sm")

    insert(OtherNumberInside())
    failed = failure(CARD_NUMBER)
    assert failed.reason == "malformed" and "AB1234" not in str(failed)
