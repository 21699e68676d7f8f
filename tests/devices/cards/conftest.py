"""A real pcscd with vsmartcard-vpcd's two virtual readers, and virtual cards put into them.

pcscd 1.9.9 always listens on /run/pcscd/pcscd.comm (it ignores ``PCSCLITE_CSOCK_NAME``, which only the client
library reads), so "its own socket" is not possible: a running pcscd is reused, otherwise ``pcscd --foreground``
is started for the session and stopped after it. The readers come from /etc/reader.conf.d/vpcd (Debian's
vsmartcard-vpcd): ``Virtual PCD 00 00`` on TCP 35963 and ``Virtual PCD 00 01`` on 35964.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from .virtual import VirtualCard

ID_SLOT = ("Virtual PCD 00 00", 35963)
STAFF_SLOT = ("Virtual PCD 00 01", 35964)


def _readers() -> list[str] | None:
    """The readers pcscd lists, or None when no pcscd answers."""
    from smartcard import scard

    result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if result != scard.SCARD_S_SUCCESS:
        return None
    try:
        result, names = scard.SCardListReaders(context, [])
        return list(names) if result == scard.SCARD_S_SUCCESS else []
    finally:
        scard.SCardReleaseContext(context)


@dataclass(frozen=True)
class Pcscd:
    readers: list[str]


@pytest.fixture(scope="session")
def pcscd() -> Iterator[Pcscd]:
    if shutil.which("pcscd") is None:
        pytest.skip("pcscd is not installed (Debian: apt install pcscd vsmartcard-vpcd libccid)")
    readers = _readers()
    process = None
    if readers is None:
        process = subprocess.Popen(
            ["pcscd", "--foreground"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + 10
        while (readers := _readers()) is None or ID_SLOT[0] not in readers:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                output = process.communicate()[0]
                pytest.fail(f"pcscd did not come up with the vpcd readers: {output[-2000:]}")
            time.sleep(0.1)
    if ID_SLOT[0] not in readers or STAFF_SLOT[0] not in readers:
        pytest.fail(
            f"pcscd runs without vsmartcard-vpcd's readers (it lists {readers}); install vsmartcard-vpcd"
        )
    yield Pcscd(readers)
    if process is not None:
        process.terminate()
        process.wait(timeout=10)


def wait_for_card(reader: str, present: bool, timeout: float = 10) -> None:
    """Block until pcscd sees a card in ``reader`` (or sees it empty)."""
    from smartcard import scard

    result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert result == scard.SCARD_S_SUCCESS
    try:
        deadline, state = time.monotonic() + timeout, scard.SCARD_STATE_UNAWARE
        while time.monotonic() < deadline:
            result, states = scard.SCardGetStatusChange(context, 200, [(reader, state)])
            if result == scard.SCARD_S_SUCCESS:
                state = states[0][1] & ~scard.SCARD_STATE_CHANGED
                if bool(state & scard.SCARD_STATE_PRESENT) == present:
                    return
        raise AssertionError(f"pcscd did not see the card {'arrive in' if present else 'leave'} {reader}")
    finally:
        scard.SCardReleaseContext(context)


@pytest.fixture
def insert(pcscd: Pcscd) -> Iterator[Callable[..., VirtualCard]]:
    """``insert(card, staff=False)``: put a virtual card into the ID-card slot (or the staff slot) and wait until
    pcscd sees it; every card is pulled out again after the test."""
    inserted: list[tuple[VirtualCard, str]] = []

    def put(card: VirtualCard, *, staff: bool = False) -> VirtualCard:
        reader, port = STAFF_SLOT if staff else ID_SLOT
        card.insert(port)
        inserted.append((card, reader))
        wait_for_card(reader, True)
        return card

    yield put
    for card, reader in inserted:
        card.remove()
        wait_for_card(reader, False)
