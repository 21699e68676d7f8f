"""Virtual cards for a real pcscd through vsmartcard-vpcd (standard library and cryptography only).

vpcd is a PC/SC reader driver that listens on TCP (``Virtual PCD 00 00`` on 35963, ``00 01`` on 35964); a virtual
card connects to it — that is inserting the card — and answers what the reader sends: every message is a 2-byte
big-endian length and a payload; a 1-byte payload is a control code (00 power off, 01 power on, 02 reset, 04 get
ATR, answered with the ATR), anything longer a command APDU, answered with a response APDU. Disconnecting is
pulling the card out.

The cards here implement the protocols on their own (notably the residence card's secure messaging), so a
driver bug is not mirrored by a shared helper. Each card logs the APDUs it received in ``apdus``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import socket
import struct
import threading

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

OK = b"\x90\x00"
ATR_T1 = bytes.fromhex("3B80800101")  # T=0 then T=1 offered, no historical bytes


def sw(value: int) -> bytes:
    return value.to_bytes(2, "big")


def ber(tag: int, value: bytes, *, long_form: bool = False) -> bytes:
    """A TLV with the tag's bytes as given and the shortest length (or ``82 HH LL`` when ``long_form``)."""
    tag_bytes = tag.to_bytes((tag.bit_length() + 7) // 8 or 1, "big")
    n = len(value)
    if long_form:
        length = b"\x82" + n.to_bytes(2, "big")
    elif n < 0x80:
        length = bytes([n])
    elif n < 0x100:
        length = bytes([0x81, n])
    else:
        length = b"\x82" + n.to_bytes(2, "big")
    return tag_bytes + length + value


def parse(apdu: bytes) -> tuple[int, int, int, int, bytes, int | None]:
    """(CLA, INS, P1, P2, data, Le) of a short APDU."""
    cla, ins, p1, p2 = apdu[:4]
    rest = apdu[4:]
    if not rest:
        return cla, ins, p1, p2, b"", None
    if len(rest) == 1:
        return cla, ins, p1, p2, b"", rest[0] or 256
    data = rest[1 : 1 + rest[0]]
    le = rest[1 + rest[0]] if len(rest) > 1 + rest[0] else None
    return cla, ins, p1, p2, data, (le or 256) if le is not None else None


class VirtualCard:
    """A card in a vpcd slot: ``insert(port)`` connects, ``remove()`` disconnects. ``remove_after=N``: answer N
    APDUs, then drop the connection on the next one without answering (the card pulled out mid-read)."""

    atr = ATR_T1

    def __init__(self, *, remove_after: int | None = None) -> None:
        self.remove_after = remove_after
        self.apdus: list[bytes] = []
        self.sock: socket.socket | None = None
        self.thread: threading.Thread | None = None

    def insert(self, port: int, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=5)
        self.sock.settimeout(None)
        self.thread = threading.Thread(target=self._serve, args=(self.sock,), daemon=True)
        self.thread.start()

    def remove(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()
            self.sock = None
        if self.thread is not None:
            self.thread.join(timeout=5)
            self.thread = None

    @property
    def inserted(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def _receive(self, sock: socket.socket, n: int) -> bytes | None:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                head = self._receive(sock, 2)
                if head is None:
                    return
                payload = self._receive(sock, struct.unpack(">H", head)[0])
                if payload is None:
                    return
                if len(payload) == 1:
                    if payload[0] == 0x04:
                        sock.sendall(struct.pack(">H", len(self.atr)) + self.atr)
                    elif payload[0] in (0x00, 0x02):
                        self.reset()
                    continue
                if self.remove_after is not None and len(self.apdus) >= self.remove_after:
                    self.apdus.append(payload)
                    sock.shutdown(socket.SHUT_RDWR)
                    return
                self.apdus.append(payload)
                answer = self.respond(payload)
                sock.sendall(struct.pack(">H", len(answer)) + answer)
        except OSError:
            return

    def reset(self) -> None:
        """Power off or reset: security state is lost."""

    def respond(self, apdu: bytes) -> bytes:
        raise NotImplementedError

    def verifies_with_data(self, p2: int) -> int:
        """How many VERIFY commands carrying data (a PIN) the card received for key ``p2``."""
        return sum(1 for a in self.apdus if a[1] == 0x20 and a[3] == p2 and len(a) > 5)


class FileCard(VirtualCard):
    """Selection, READ BINARY and PIN VERIFY shared by the My Number card and the licence."""

    def __init__(self, *, remove_after: int | None = None) -> None:
        super().__init__(remove_after=remove_after)
        self.files: dict[int, bytes] = {}
        self.protected: set[int] = set()
        self.pins: dict[int, bytes] = {}
        self.retries: dict[int, int] = {}
        self.verified: set[int] = set()
        self.selected: int | None = None

    def reset(self) -> None:
        self.verified.clear()
        self.selected = None

    def read_binary(self, p1: int, p2: int, le: int | None) -> bytes:
        if self.selected not in self.files:
            return sw(0x6986)
        if self.selected in self.protected and not self.verified:
            return sw(0x6982)
        data, offset = self.files[self.selected], p1 << 8 | p2
        if offset >= len(data):
            return sw(0x6B00)
        return data[offset : offset + (le or 256)] + OK

    def verify(self, p2: int, data: bytes) -> bytes:
        if p2 not in self.pins:
            return sw(0x6A88)
        if self.retries[p2] == 0:
            return sw(0x6983)
        if not data:
            return OK if p2 in self.verified else sw(0x63C0 | self.retries[p2])
        if hmac.compare_digest(data, self.pins[p2]):
            self.retries[p2] = 3
            self.verified.add(p2)
            return OK
        self.retries[p2] -= 1
        return sw(0x63C0 | self.retries[p2])


class VirtualMyNumberCard(FileCard):
    """券面事項入力補助AP with the PIN (EF 0011, VERIFY P2 80) and 照合番号B (EF 0013, same P2: the EF selected
    says which). ``basic4``: the raw file, to test malformed TLV; ``aid``: what the card answers to."""

    AID = bytes.fromhex("D3921000310001010408")

    def __init__(
        self,
        *,
        pin: str = "4071",
        retries: int = 3,
        code_b: str = "85040120309876",
        code_b_retries: int = 10,
        name: str = "窓口　花子",
        address: str = "東京都千代田区霞が関一丁目1番1号",
        birth_date: str = "19850401",
        sex: str = "2",
        individual_number: str = "123456789018",
        basic4: bytes | None = None,
        aid: bytes = AID,
        remove_after: int | None = None,
    ) -> None:
        super().__init__(remove_after=remove_after)
        self.aid = aid
        self.secrets = {0x0011: pin.encode(), 0x0013: code_b.encode()}
        self.counters = {0x0011: retries, 0x0013: code_b_retries}
        self.limits = {0x0011: 3, 0x0013: 10}
        self.app_selected = False
        self.files = {
            0x0001: ber(0xFF10, individual_number.encode()) + b"\xff\xff",
            0x0002: basic4 if basic4 is not None else self.basic4(name, address, birth_date, sex),
        }
        self.protected = {0x0001, 0x0002}

    @staticmethod
    def basic4(name: str, address: str, birth_date: str, sex: str) -> bytes:
        """FF20 with a long-form length around DF21 header, DF22 name, DF23 address, DF24 birth date, DF25 sex,
        then padding as real cards have."""
        fields = [name.encode(), address.encode(), birth_date.encode(), sex.encode()]
        inner = ber(0xDF21, bytes(8)) + b"".join(
            ber(0xDF22 + i, value, long_form=i == 1) for i, value in enumerate(fields)
        )
        return ber(0xFF20, inner, long_form=True) + b"\xff" * 16

    def respond(self, apdu: bytes) -> bytes:
        _, ins, p1, p2, data, le = parse(apdu)
        if ins == 0xA4 and p1 == 0x04:
            self.app_selected = data == self.aid
            self.selected = None
            return OK if self.app_selected else sw(0x6A82)
        if not self.app_selected:
            return sw(0x6985)
        if ins == 0xA4 and p1 == 0x02:
            file_id = int.from_bytes(data, "big")
            if file_id not in self.files and file_id not in self.secrets:
                return sw(0x6A82)
            self.selected = file_id
            return OK
        if ins == 0x20 and p2 == 0x80:
            if self.selected not in self.secrets:
                return sw(0x6986)
            self.pins = {0x80: self.secrets[self.selected]}
            self.retries = {0x80: self.counters[self.selected]}
            answer = self.verify(0x80, data)
            self.counters[self.selected] = self.limits[self.selected] if answer == OK else self.retries[0x80]
            return answer
        if ins == 0xB0:
            return self.read_binary(p1, p2, le)
        return sw(0x6D00)


def jis(text: str) -> bytes:
    """Text → two-byte JIS X 0208 codes (EUC-JP with the high bits cleared)."""
    return bytes(b & 0x7F for b in text.encode("euc_jp"))


class VirtualLicence(FileCard):
    """IC運転免許証: MF/EF01 common data open to all, PIN1 (VERIFY P2 81) guarding DF1/EF01 記載事項."""

    DF1 = bytes.fromhex("A0000002310100000000000000000000")

    def __init__(
        self,
        *,
        pin1: str = "2580",
        retries: int = 3,
        name: bytes | None = None,
        kana: str = "ワタナベ　タロウ",
        birth_date: str = "4020101",
        address: str = "東京都千代田区霞が関二丁目１番２号",
        licence_number: str = "301234567890",
        issue_date: str = "20240315",
        expiry_date: str = "20290415",
        entries: bytes | None = None,
        remove_after: int | None = None,
    ) -> None:
        super().__init__(remove_after=remove_after)
        self.pins, self.retries = {0x81: pin1.encode()}, {0x81: retries}
        common = ber(0x45, b"008" + bytes.fromhex(issue_date) + bytes.fromhex(expiry_date)) + ber(
            0x46, b"\x01\x00"
        )
        self.name = name if name is not None else jis("渡邉　太郎")
        if entries is None:
            entries = (
                ber(0x11, b"\x03")
                + ber(0x12, self.name)
                + ber(0x13, jis(kana))
                + ber(0x14, b"")
                + ber(0x16, birth_date.encode())
                + ber(0x17, jis(address))
                + ber(0x18, b"5060315")
                + ber(0x1B, b"5110415")
                + ber(0x21, licence_number.encode())
            )
        self.files = {0x2F01: common, 0x0001: entries}
        self.protected = {0x0001}
        self.in_df1 = False

    def respond(self, apdu: bytes) -> bytes:
        _, ins, p1, p2, data, le = parse(apdu)
        if ins == 0xA4 and p1 == 0x00:
            self.in_df1, self.selected = False, None
            return OK
        if ins == 0xA4 and p1 == 0x04:
            if data != self.DF1:
                return sw(0x6A82)
            self.in_df1, self.selected = True, None
            return OK
        if ins == 0xA4 and p1 == 0x02:
            file_id = int.from_bytes(data, "big")
            if (file_id == 0x0001) != self.in_df1 or file_id not in self.files:
                return sw(0x6A82)
            self.selected = file_id
            return OK
        if ins == 0x20:
            return self.verify(p2, data)
        if ins == 0xB0:
            return self.read_binary(p1, p2, le)
        return sw(0x6D00)


# --- 在留カード ---------------------------------------------------------------------------------------------
# The card side of 「在留カード等仕様書（一般公開用）」Ver 1.5 (1st generation) and 「第２世代在留カード等仕様書
# （一般公開用）」Ver 1.1 (2nd generation), written from the specifications, not from the driver.

RESIDENCE_DFS = {
    bytes.fromhex("D392F0004F02") + bytes(10): "DF1",
    bytes.fromhex("D392F0004F03") + bytes(10): "DF2",
    bytes.fromhex("D392F0004F04") + bytes(10): "DF3",
}
# Stand-ins for the images (a TIFF or JPEG 2000 header, then filler); the face photo must never be read.
FRONT_TIFF = b"II*\x00\x08\x00\x00\x00" + b"front side of the card" * 40
FACE_JP2 = b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"face" * 200
NAME_TIFF = b"II*\x00\x08\x00\x00\x00" + b"name" * 100
ADDRESS_TIFF = b"MM\x00*\x00\x00\x00\x08" + b"address" * 100


def _split_apdu(apdu: bytes) -> tuple[int, int, int, int, bytes, int | None]:
    """(CLA, INS, P1, P2, data, Le) of a short or extended APDU; an extended Le of 00 00 is 65536 (the whole
    file)."""
    cla, ins, p1, p2 = apdu[:4]
    body = apdu[4:]
    if not body:
        return cla, ins, p1, p2, b"", None
    if len(body) == 1:
        return cla, ins, p1, p2, b"", body[0] or 256
    if body[0] == 0 and len(body) >= 3:
        if len(body) == 3:
            return cla, ins, p1, p2, b"", int.from_bytes(body[1:3], "big") or 65536
        lc = int.from_bytes(body[1:3], "big")
        rest = body[3 + lc :]
        return cla, ins, p1, p2, body[3 : 3 + lc], (int.from_bytes(rest, "big") or 65536) if rest else None
    rest = body[1 + body[0] :]
    return cla, ins, p1, p2, body[1 : 1 + body[0]], (rest[0] or 256) if rest else None


def _des_block(key8: bytes, block: bytes, *, decrypt: bool = False) -> bytes:
    cipher = Cipher(TripleDES(key8 + key8 + key8), modes.ECB())  # single DES, one block
    op = cipher.decryptor() if decrypt else cipher.encryptor()
    return op.update(block) + op.finalize()


class VirtualResidenceCard(VirtualCard):
    """在留カード / 特別永住者証明書, ``generation`` 1 (card type "1"/"2": 3DES and retail MAC; DF1 holds the front
    image D0 and the face photo D1, DF2 the address D4) or 2 (card type "05"/"06": AES and AES-CMAC; DF1 holds
    the card number C2, the printed entries C5-CE and the images).

    MF/EF01-02 are free to read; everything else needs GET CHALLENGE, MUTUAL AUTHENTICATE with the keys of the card
    number and VERIFY of the card number under secure messaging, DF1 also secure messaging (CLA 08, Le in DO 96,
    the answer in DO 86). ``auth_failures`` counts MUTUAL AUTHENTICATEs the card refused. ``address_file`` and
    ``front_image`` replace what the card holds (malformed data); ``printed`` replaces the 2nd generation's printed
    entries (tag → text)."""

    def __init__(
        self,
        *,
        card_number: str = "AB12345678CD",
        generation: int = 1,
        card_type: str | None = None,
        address: str = "東京都新宿区西新宿二丁目8番1号　都営住宅101号",
        front_image: bytes = FRONT_TIFF,
        address_file: bytes | None = None,
        printed: dict[int, str] | None = None,
        remove_after: int | None = None,
    ) -> None:
        super().__init__(remove_after=remove_after)
        self.card_number, self.generation = card_number, generation
        self.block = 8 if generation == 1 else 16
        self.card_type = card_type or ("1" if generation == 1 else "05")
        self.auth_failures = 0
        # (DF, P1 of READ BINARY by short EF identifier) → (content, access: free | auth | sm)
        self.files: dict[tuple[str, int], tuple[bytes, str]] = {
            ("MF", 0x8B): (ber(0xC0, b"0001"), "free"),
            ("MF", 0x8A): (ber(0xC1, self.card_type.encode()), "free"),
        }
        if generation == 1:
            if address_file is None:
                # 342 bytes as §3.3.1 sizes the file: D2 date written, D3 municipality code, D4 320 bytes of address.
                address_file = (
                    ber(0xD2, b"20240401")
                    + ber(0xD3, b"131041")
                    + ber(0xD4, address.encode().ljust(320, b"\x00"), long_form=True)
                )
            self.files |= {
                ("DF1", 0x85): (ber(0xD0, front_image, long_form=True), "sm"),
                ("DF1", 0x86): (ber(0xD1, FACE_JP2, long_form=True), "sm"),
                ("DF2", 0x81): (address_file, "auth"),
                ("DF2", 0x82): (ber(0xD5, b"".ljust(120, b"\x00")), "auth"),
                ("DF2", 0x83): (ber(0xD6, b"".ljust(120, b"\x00")), "auth"),
                ("DF2", 0x84): (ber(0xD7, b"0"), "auth"),
                ("DF3", 0x82): (ber(0xDA, bytes(256), long_form=True) + ber(0xDB, bytes(1200)), "auth"),
            }
        else:
            entries = printed or {
                0xC5: "20310731",
                0xC6: "19950712",
                0xC7: "1",
                0xC8: "VNM",
                0xC9: "14",
                0xCE: "0500",
                0xCA: "03",
                0xCB: "20240731",
                0xCC: "2",
                0xCD: "20290731",
            }
            self.files |= {
                ("DF1", 0x81): (ber(0xC2, card_number.encode()), "sm"),
                ("DF1", 0x83): (b"".join(ber(tag, text.encode()) for tag, text in entries.items()), "sm"),
                ("DF1", 0x84): (
                    ber(0xD0, NAME_TIFF, long_form=True) + ber(0xD1, FACE_JP2, long_form=True),
                    "sm",
                ),
                ("DF1", 0x86): (ber(0xDFD1, ADDRESS_TIFF, long_form=True), "sm"),
                ("DF2", 0x81): (ber(0xD5, b"0") + ber(0xD6, b"") + ber(0xD7, b"0"), "auth"),
                ("DF2", 0x82): (ber(0xD8, b"0"), "auth"),
                ("DF2", 0x83): (ber(0xD9, b"0") + ber(0xDE, b""), "auth"),
                ("DF3", 0x82): (ber(0xDC, bytes(96)) + ber(0xDD, bytes(598), long_form=True), "auth"),
            }
        self.reset()

    def reset(self) -> None:
        self.df: str = "MF"
        self.ef: tuple[str, int] | None = None
        self.challenge: bytes | None = None
        self.ks_enc: bytes | None = None
        self.verified = False

    # The card's cryptography: CBC with a zero IV, 3DES (1st) or AES (2nd); retail MAC (1st) or AES-CMAC/8 (2nd).

    def crypt(self, key: bytes, data: bytes, *, decrypt: bool = False) -> bytes:
        algorithm = TripleDES(key + key[:8]) if self.generation == 1 else algorithms.AES(key)
        cipher = Cipher(algorithm, modes.CBC(bytes(self.block)))
        op = cipher.decryptor() if decrypt else cipher.encryptor()
        return op.update(data) + op.finalize()

    def mac(self, key: bytes, data: bytes) -> bytes:
        if self.generation == 2:
            mac = cmac.CMAC(algorithms.AES(key))
            mac.update(data)
            return mac.finalize()[:8]
        data += b"\x80" + bytes(-(len(data) + 1) % 8)
        state = bytes(8)
        for at in range(0, len(data), 8):
            state = _des_block(key[:8], bytes(a ^ b for a, b in zip(state, data[at : at + 8], strict=True)))
        return _des_block(key[:8], _des_block(key[8:16], state, decrypt=True))

    def respond(self, apdu: bytes) -> bytes:
        cla, ins, p1, p2, data, le = _split_apdu(apdu)
        if ins == 0xA4:
            return self.select(p1, data)
        if ins == 0x84:
            self.challenge, self.ks_enc, self.verified = os.urandom(8), None, False
            return self.challenge + OK if le == 8 else sw(0x6700)
        if ins == 0x82:
            return self.mutual_authenticate(data)
        if ins == 0x20:
            return self.verify_number(cla, p2, data)
        if ins == 0xB0:
            return self.read_binary(cla, p1, p2, data, le)
        return sw(0x6D00)

    def select(self, p1: int, data: bytes) -> bytes:
        if p1 == 0x04 and data in RESIDENCE_DFS:
            self.df, self.ef = RESIDENCE_DFS[data], None
            return OK
        if p1 == 0x00 and data in (b"", b"\x3f\x00"):
            self.df, self.ef = "MF", None
            return OK
        return sw(0x6A82)

    def mutual_authenticate(self, data: bytes) -> bytes:
        challenge, self.challenge = self.challenge, None
        self.ks_enc, self.verified = None, False
        key = hashlib.sha1(self.card_number.encode()).digest()[:16]
        if (
            challenge is None
            or len(data) != 40
            or not hmac.compare_digest(self.mac(key, data[:32]), data[32:])
        ):
            self.auth_failures += 1
            return sw(0x6300)
        plain = self.crypt(key, data[:32], decrypt=True)
        if plain[8:16] != challenge:
            self.auth_failures += 1
            return sw(0x6300)
        k_icc = os.urandom(16)
        e_icc = self.crypt(key, challenge + plain[:8] + k_icc)
        seed = bytes(a ^ b for a, b in zip(plain[16:], k_icc, strict=True))
        self.ks_enc = hashlib.sha1(seed + bytes([0, 0, 0, 1])).digest()[:16]
        return e_icc + self.mac(key, e_icc) + OK

    def verify_number(self, cla: int, p2: int, data: bytes) -> bytes:
        if cla != 0x08 or p2 != 0x86 or self.ks_enc is None:
            return sw(0x6982)
        if len(data) < 3 or data[:1] != b"\x86" or data[1] != len(data) - 2 or data[2] != 0x01:
            return sw(0x6988)
        if not data[3:] or len(data[3:]) % self.block:
            return sw(0x6988)
        plain = self.crypt(self.ks_enc, data[3:], decrypt=True)
        expected = self.card_number.encode() + b"\x80"
        if hmac.compare_digest(plain, expected + bytes(-len(expected) % self.block)):
            self.verified = True
            return OK
        self.ks_enc = None
        return sw(0x6300)

    def read_binary(self, cla: int, p1: int, p2: int, data: bytes, le: int | None) -> bytes:
        if p1 & 0x80:
            if (self.df, p1) not in self.files:
                return sw(0x6A82)
            self.ef, offset = (self.df, p1), p2
        elif self.ef is None:
            return sw(0x6986)
        else:
            offset = p1 << 8 | p2
        content, access = self.files[self.ef]
        if access != "free" and not self.verified:
            return sw(0x6982)
        if cla == 0x08:
            if self.ks_enc is None or not self.verified:
                return sw(0x6982)
            if len(data) != 4 or data[:2] != b"\x96\x02":
                return sw(0x6988)
            le = int.from_bytes(data[2:], "big") or 65536
        elif cla != 0x00 or access == "sm":
            return sw(0x6982)
        if offset >= len(content):
            return sw(0x6B00)
        chunk = content[offset : offset + (le or 256)]
        return self.secure(chunk) + OK if cla == 0x08 else chunk + OK

    def secure(self, plain: bytes) -> bytes:
        """DO 86: padding indicator 01 and the data, padded and encrypted with KS.Enc."""
        assert self.ks_enc is not None
        padded = plain + b"\x80" + bytes(-(len(plain) + 1) % self.block)
        return ber(0x86, b"\x01" + self.crypt(self.ks_enc, padded))


class VirtualStaffCard(VirtualCard):
    """A contactless card on a PC/SC reader: only the reader's pseudo-APDU GET DATA (``FF CA 00 00 00``)."""

    def __init__(self, uid: bytes = bytes.fromhex("0123456789ABCDEF")) -> None:
        super().__init__()
        self.uid = uid

    def respond(self, apdu: bytes) -> bytes:
        if apdu[:4] == bytes.fromhex("FFCA0000"):
            return self.uid + OK
        return sw(0x6D00)
