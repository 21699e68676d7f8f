"""Staff login by IC card + PIN at a counter PC: the browser bound to its terminal, a tap posted to the real signed
event endpoint, the login page's snapshot, the PIN through the test client, lockout, and what is never kept."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import uvicorn
from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from devices import signing
from devices.models import Terminal
from madoguchi.accounts import services
from madoguchi.accounts.models import CardLogin, StaffCard, User
from madoguchi.accounts.terminal_binding import COOKIE
from madoguchi.audit.models import AuditEvent

from ..conftest import database_dump, free_port
from ..factories import PASSWORD, TerminalFactory, UserFactory

PIN = "730519"
CARD_ID = "04A23B1C5D6E80"
WAITING = "職員証をカードリーダーにかざしてください"
WAIT = 20.0  # seconds to wait for what must happen; never a speed limit


@pytest.fixture
def terminal(db: None) -> Terminal:
    return TerminalFactory.create()


@pytest.fixture
def admin_user(db: None) -> User:
    return UserFactory.create(roles=["system_admin"])


@pytest.fixture
def staff(db: None, admin_user: User) -> User:
    user = UserFactory.create(roles=["clerk"], display_name="窓口 花子", username="hanako")
    services.staff_card_register(user=user, card_id=CARD_ID, label="職員証", actor=admin_user)
    services.card_pin_set(user=user, pin=PIN, actor=user)
    user.refresh_from_db()
    return user


def bound_client(terminal: Terminal, admin_user: User) -> Client:
    """A browser bound to ``terminal`` the way a system admin does it, then logged out again."""
    client = Client()
    assert client.login(username=admin_user.username, password=PASSWORD)
    response = client.post(reverse("accounts:card_login_bind"), {"terminal": terminal.pk})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:card_login")
    client.post(reverse("accounts:logout"))
    assert "_auth_user_id" not in client.session
    assert client.cookies[COOKIE].value
    return client


@pytest.fixture
def counter_pc(terminal: Terminal, admin_user: User) -> Client:
    return bound_client(terminal, admin_user)


def tap(terminal: Terminal, card_id: str = CARD_ID) -> Any:
    """The agent's staff reader: a signed ``staff.tapped`` event to the real endpoint."""
    body = json.dumps({"type": "staff.tapped", "id": uuid.uuid4().hex, "card_id": card_id}).encode()
    path = reverse("devices:agent_event")
    headers = signing.signed_headers(
        terminal=terminal.code, secret=terminal.secret, method="POST", path=path, body=body
    )
    return Client().post(path, body, content_type="application/json", headers=headers)


def snapshot(client: Client) -> dict[str, Any]:
    """The login page's event stream, as served by WSGI: ``retry``, one snapshot, the end."""
    response = client.get(reverse("accounts:card_login_events"))
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Django warns that WSGI consumes an async iterator: expected here
        text = b"".join(response).decode()
    match = re.search(r"event: snapshot\ndata: (.*)\n", text)
    assert match, text
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def send_pin(client: Client, token: str, pin: str, next_url: str = "") -> Any:
    data = {"token": token, "pin": pin}
    if next_url:
        data["next"] = next_url
    return client.post(reverse("accounts:card_login_pin"), data)


def logged_in_as(client: Client) -> int | None:
    value = client.session.get("_auth_user_id")
    return int(value) if value else None


# --- binding -----------------------------------------------------------------------------------------------


def test_only_a_system_admin_binds_a_browser_and_the_cookie_is_signed_httponly_and_lax(
    terminal: Terminal, admin_user: User
) -> None:
    clerk = Client()
    clerk.force_login(UserFactory.create(roles=["clerk"]))
    response = clerk.post(reverse("accounts:card_login_bind"), {"terminal": terminal.pk})
    assert response.status_code == 403
    assert COOKIE not in response.cookies

    admin = Client()
    admin.force_login(admin_user)
    page = admin.get(reverse("accounts:card_login_bind"))
    assert terminal.code in page.content.decode()
    response = admin.post(reverse("accounts:card_login_bind"), {"terminal": terminal.pk})
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and int(cookie["max-age"]) >= 365 * 24 * 3600
    assert not cookie["secure"]  # plain HTTP in the test client; HTTPS sets it
    assert AuditEvent.objects.filter(target_type="terminal", target_ref=terminal.code).exists()

    login_page = admin.get(reverse("accounts:card_login")).content.decode()
    assert WAITING in login_page and terminal.code in login_page

    forged = Client()
    forged.cookies[COOKIE] = cookie.value[:-2] + "xx"
    assert (
        "このブラウザは端末に登録されていません"
        in forged.get(reverse("accounts:card_login")).content.decode()
    )


def test_an_unbound_browser_is_told_how_to_bind_and_cannot_log_in(staff: User, terminal: Terminal) -> None:
    client = Client()
    page = client.get(reverse("accounts:card_login")).content.decode()
    assert "このブラウザは端末に登録されていません" in page and reverse("accounts:card_login_bind") in page
    assert WAITING not in page
    assert client.get(reverse("accounts:card_login_events")).status_code == 403

    assert tap(terminal).json() == {"status": "pin_required"}
    token = CardLogin.objects.get().token
    response = send_pin(client, token, PIN)
    assert response.status_code == 403 and logged_in_as(client) is None
    assert CardLogin.objects.get().used_at is None


def test_the_normal_login_page_links_to_the_card_login(db: None) -> None:
    assert reverse("accounts:card_login") in Client().get(reverse("accounts:login")).content.decode()


def test_a_new_terminal_secret_unbinds_its_browsers(counter_pc: Client, terminal: Terminal) -> None:
    assert WAITING in counter_pc.get(reverse("accounts:card_login")).content.decode()
    terminal.secret = "a-new-secret"
    terminal.save()
    assert WAITING not in counter_pc.get(reverse("accounts:card_login")).content.decode()


# --- tap and PIN -------------------------------------------------------------------------------------------


def test_a_tap_shows_the_name_and_the_right_pin_logs_in_once(
    counter_pc: Client, terminal: Terminal, staff: User
) -> None:
    assert snapshot(counter_pc) == {}
    response = tap(terminal, card_id="04 a2:3b-1c 5d 6e 80")  # as typed: normalised before the digest
    assert response.status_code == 200 and response.json() == {"status": "pin_required"}

    shown = snapshot(counter_pc)
    assert shown["name"] == "窓口 花子" and shown["login_id"] == "hanako" and shown["token"]
    page = counter_pc.get(reverse("accounts:card_login")).content.decode()
    assert "窓口 花子" in page and shown["token"] in page

    response = send_pin(counter_pc, shown["token"], PIN, next_url="/counters/stats/")
    assert response.status_code == 302 and response["Location"] == "/counters/stats/"
    assert logged_in_as(counter_pc) == staff.pk
    login = CardLogin.objects.get(token=shown["token"])
    assert login.used_at is not None and login.terminal == terminal
    record = AuditEvent.objects.get(target_type="login")
    assert record.actor == staff and record.target_ref == terminal.code and record.detail["method"] == "card"
    assert snapshot(counter_pc) == {}  # the page no longer offers a used tap

    # Replayed (the same token again, from the same terminal's browser): refused, nothing changes.
    again = bound_client(terminal, UserFactory.create(roles=["system_admin"]))
    response = send_pin(again, shown["token"], PIN)
    assert response.status_code == 403 and "使用済み" in response.content.decode()
    assert logged_in_as(again) is None
    assert CardLogin.objects.get(token=shown["token"]).used_at == login.used_at


def test_a_card_login_session_ends_after_the_idle_timeout(
    counter_pc: Client, terminal: Terminal, staff: User, settings: Settings
) -> None:
    """The idle timeout is the session's age, renewed by requests (madoguchi.sessions, test_sessions.py)."""
    assert settings.SESSION_COOKIE_AGE == 1800
    tap(terminal)
    response = send_pin(counter_pc, snapshot(counter_pc)["token"], PIN)
    assert int(response.cookies[settings.SESSION_COOKIE_NAME]["max-age"]) == settings.SESSION_COOKIE_AGE
    assert counter_pc.session.get_expiry_age() == settings.SESSION_COOKIE_AGE


def test_an_offsite_next_goes_to_the_desk_instead(
    counter_pc: Client, terminal: Terminal, staff: User
) -> None:
    tap(terminal)
    response = send_pin(counter_pc, snapshot(counter_pc)["token"], PIN, next_url="https://evil.example/")
    assert response.status_code == 302 and response["Location"] == "/"


def test_five_wrong_pins_lock_the_card_login(
    counter_pc: Client, terminal: Terminal, staff: User, settings: Settings
) -> None:
    assert settings.MADOGUCHI_CARD_PIN_MAX_FAILURES == 5
    tap(terminal)
    token = snapshot(counter_pc)["token"]
    for tries_left in (4, 3, 2, 1):
        response = send_pin(counter_pc, token, "000000")
        page = response.content.decode()
        assert response.status_code == 403 and f"PINが違います。あと{tries_left}回" in page
        assert token in page  # the same tap may be tried again
        staff.refresh_from_db()
        assert staff.card_pin_failures == 5 - tries_left and staff.card_locked_until is None
    response = send_pin(counter_pc, token, "000000")
    assert "ロックされています" in response.content.decode() and logged_in_as(counter_pc) is None
    staff.refresh_from_db()
    lock = staff.card_locked_until
    assert lock is not None
    assert 14 * 60 < (lock - timezone.now()).total_seconds() <= 15 * 60
    assert AuditEvent.objects.filter(target_type="card_pin", detail__kind="locked").count() == 1

    # Locked: the right PIN does not help, with this tap or a new one; the lock does not move.
    assert "ロックされています" in send_pin(counter_pc, token, PIN).content.decode()
    assert tap(terminal).json() == {"status": "locked"}
    assert snapshot(counter_pc) == {}
    assert logged_in_as(counter_pc) is None
    staff.refresh_from_db()
    assert staff.card_locked_until == lock

    # After the lock, five more wrong PINs lock it for twice as long: guessing gets slower and slower.
    User.objects.filter(pk=staff.pk).update(card_locked_until=timezone.now())
    for _ in range(5):
        tap(terminal)
        send_pin(counter_pc, snapshot(counter_pc)["token"], "000000")
    staff.refresh_from_db()
    assert staff.card_locked_until is not None
    assert 29 * 60 < (staff.card_locked_until - timezone.now()).total_seconds() <= 30 * 60

    # After that lock, a new tap and the right PIN log in, and the count starts again.
    User.objects.filter(pk=staff.pk).update(card_locked_until=timezone.now())
    tap(terminal)
    assert send_pin(counter_pc, snapshot(counter_pc)["token"], PIN).status_code == 302
    assert logged_in_as(counter_pc) == staff.pk
    staff.refresh_from_db()
    assert staff.card_pin_failures == 0


def test_a_right_pin_resets_the_count_of_wrong_ones(
    counter_pc: Client, terminal: Terminal, staff: User
) -> None:
    tap(terminal)
    token = snapshot(counter_pc)["token"]
    send_pin(counter_pc, token, "111111")
    staff.refresh_from_db()
    assert staff.card_pin_failures == 1
    assert send_pin(counter_pc, token, PIN).status_code == 302
    staff.refresh_from_db()
    assert staff.card_pin_failures == 0


def test_an_unknown_or_inactive_card_is_refused_without_user_data(
    counter_pc: Client, terminal: Terminal, staff: User
) -> None:
    assert tap(terminal, card_id="0011223344556677").json() == {"status": "unknown_card"}
    assert not CardLogin.objects.exists() and snapshot(counter_pc) == {}

    StaffCard.objects.update(active=False)
    assert tap(terminal).json() == {"status": "unknown_card"}
    StaffCard.objects.update(active=True)
    User.objects.filter(pk=staff.pk).update(is_active=False)
    response = tap(terminal)
    assert response.json() == {"status": "unknown_card"}
    assert "hanako" not in response.content.decode() and not CardLogin.objects.exists()


def test_a_malformed_card_id_is_a_bad_request_that_does_not_quote_it(terminal: Terminal, staff: User) -> None:
    response = tap(terminal, card_id="04A23B1C5D6E8ZZZ")
    assert response.status_code == 400 and "card ID" in response.json()["error"]
    assert "04A23B1C5D6E8ZZZ" not in response.content.decode()
    assert not CardLogin.objects.exists()


def test_a_user_without_a_card_pin_is_told_to_set_one(
    counter_pc: Client, terminal: Terminal, staff: User
) -> None:
    User.objects.filter(pk=staff.pk).update(card_pin_hash="")
    assert tap(terminal).json() == {"status": "no_pin"}
    assert not CardLogin.objects.exists()


def test_an_expired_tap_is_refused_and_nothing_changes(
    counter_pc: Client, terminal: Terminal, staff: User, settings: Settings
) -> None:
    settings.MADOGUCHI_CARD_LOGIN_SECONDS = 0  # expires the moment it is made
    tap(terminal)
    login = CardLogin.objects.get()
    assert snapshot(counter_pc) == {}
    response = send_pin(counter_pc, login.token, PIN)
    assert response.status_code == 403 and "時間切れです" in response.content.decode()
    assert logged_in_as(counter_pc) is None
    login.refresh_from_db()
    staff.refresh_from_db()
    assert login.used_at is None and staff.card_pin_failures == 0
    assert "時間切れです" in send_pin(counter_pc, login.token, "000000").content.decode()
    staff.refresh_from_db()
    assert staff.card_pin_failures == 0  # a wrong PIN for an expired tap is not even checked


def test_a_new_tap_replaces_the_one_waiting(counter_pc: Client, terminal: Terminal, staff: User) -> None:
    tap(terminal)
    first = snapshot(counter_pc)["token"]
    tap(terminal)
    second = snapshot(counter_pc)["token"]
    assert first != second
    assert "時間切れです" in send_pin(counter_pc, first, PIN).content.decode()
    assert send_pin(counter_pc, second, PIN).status_code == 302


def test_a_token_from_another_terminal_is_refused_and_stays_good_for_its_own(
    counter_pc: Client, terminal: Terminal, staff: User, admin_user: User
) -> None:
    elsewhere = bound_client(TerminalFactory.create(), admin_user)
    tap(terminal)
    token = snapshot(counter_pc)["token"]
    assert snapshot(elsewhere) == {}
    response = send_pin(elsewhere, token, PIN)
    assert (
        response.status_code == 403 and "この端末でかざしたカードではありません" in response.content.decode()
    )
    assert logged_in_as(elsewhere) is None
    response = send_pin(elsewhere, token, "000000")
    staff.refresh_from_db()
    assert staff.card_pin_failures == 0 and CardLogin.objects.get().used_at is None
    assert send_pin(counter_pc, token, PIN).status_code == 302


def test_an_unknown_token_is_refused(counter_pc: Client, staff: User) -> None:
    response = send_pin(counter_pc, "no-such-token", PIN)
    assert response.status_code == 403 and "このログインは無効です" in response.content.decode()


# --- pushed to the page over a real ASGI server ----------------------------------------------------------------


@pytest.fixture
def asgi_server(transactional_db: None, settings: Settings) -> Iterator[str]:
    """uvicorn serving madoguchi.asgi in a thread of this process (so the in-process push hub reaches it)."""
    from madoguchi.asgi import application

    settings.MADOGUCHI_PUSH_URL = ""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(WAIT)


def sse_frames(response: requests.Response) -> Iterator[dict[str, Any]]:
    """The frames of a server-sent-event stream (pings skipped), ``data`` parsed as JSON."""
    frame: dict[str, Any] = {}
    for line in response.iter_lines(decode_unicode=True):
        if line == "":
            if frame:
                yield frame
            frame = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            frame[name] = json.loads(value) if name == "data" else value


def test_the_login_page_hears_taps_pushed_to_its_terminal(
    asgi_server: str, terminal: Terminal, admin_user: User, staff: User
) -> None:
    cookie = bound_client(terminal, admin_user).cookies[COOKIE].value
    elsewhere = bound_client(TerminalFactory.create(), admin_user).cookies[COOKIE].value
    url = f"{asgi_server}{reverse('accounts:card_login_events')}"
    assert requests.get(url, timeout=WAIT).status_code == 403  # an unbound browser hears nothing
    with (
        requests.get(url, cookies={COOKIE: cookie}, stream=True, timeout=(5, WAIT)) as response,
        requests.get(url, cookies={COOKIE: elsewhere}, stream=True, timeout=(5, WAIT)) as other,
    ):
        response.encoding = other.encoding = "utf-8"
        frames, other_frames = sse_frames(response), sse_frames(other)
        assert next(frames) == {"retry": "2000"} and next(other_frames) == {"retry": "2000"}
        assert next(frames)["data"] == {} and next(other_frames)["data"] == {}

        assert tap(terminal, card_id="AABBCCDDEEFF0011").json() == {"status": "unknown_card"}
        frame = next(frames)
        assert frame["event"] == "card.refused" and frame["data"] == {
            "type": "card.refused",
            "reason": "unknown_card",
        }

        assert tap(terminal).json() == {"status": "pin_required"}
        frame = next(frames)
        assert frame["event"] == "card.tapped"
        assert frame["data"]["name"] == "窓口 花子" and frame["data"]["login_id"] == "hanako"
        mine = CardLogin.objects.get()
        assert frame["data"]["token"] == mine.token

        # The other terminal's page heard none of that: its first event is the tap made there.
        assert tap(Terminal.objects.exclude(pk=terminal.pk).get()).json() == {"status": "pin_required"}
        frame = next(other_frames)
        assert frame["event"] == "card.tapped"
        assert frame["data"]["token"] == CardLogin.objects.exclude(pk=mine.pk).get().token


# --- the card PIN page and the admin -------------------------------------------------------------------------


def test_a_user_sets_their_card_pin_with_their_password(db: None) -> None:
    user = UserFactory.create(roles=["clerk"])
    client = Client()
    client.force_login(user)
    url = reverse("accounts:card_pin")
    assert "まだ設定されていません" in client.get(url).content.decode()

    wrong = client.post(url, {"password": "not it", "pin": "4321", "pin_again": "4321"})
    assert "現在のパスワードが正しくありません" in wrong.content.decode()
    for bad in ("123", "123456789", "12a4"):
        page = client.post(url, {"password": PASSWORD, "pin": bad, "pin_again": bad}).content.decode()
        assert "4〜8桁の数字で入力してください" in page
    mismatch = client.post(url, {"password": PASSWORD, "pin": "4321", "pin_again": "4322"})
    assert "一致しません" in mismatch.content.decode()
    user.refresh_from_db()
    assert user.card_pin_hash == ""

    assert client.post(url, {"password": PASSWORD, "pin": "98765", "pin_again": "98765"}).status_code == 302
    user.refresh_from_db()
    assert user.card_pin_hash != "98765" and check_password("98765", user.card_pin_hash)
    records = AuditEvent.objects.filter(target_type="card_pin", target_ref=user.username)
    assert [r.detail for r in records] == [{"kind": "pin_set"}]
    assert "98765" not in json.dumps([r.detail for r in records])
    assert "設定済み" in client.get(url).content.decode()
    assert Client().get(url).status_code == 302  # needs a login


def test_a_system_admin_registers_a_card_in_the_user_admin(admin_user: User, db: None) -> None:
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    user = UserFactory.create(roles=["clerk"])
    client = Client()
    client.force_login(admin_user)
    url = reverse("admin:accounts_user_change", args=[user.pk])
    assert client.get(url).status_code == 200
    data = {
        "username": user.username,
        "is_active": "on",
        "date_joined_0": timezone.localtime(user.date_joined).strftime("%Y-%m-%d"),
        "date_joined_1": timezone.localtime(user.date_joined).strftime("%H:%M:%S"),
        "display_name": user.display_name,
        "staff_cards-TOTAL_FORMS": "1",
        "staff_cards-INITIAL_FORMS": "0",
        "staff_cards-MIN_NUM_FORMS": "0",
        "staff_cards-MAX_NUM_FORMS": "1000",
        "staff_cards-0-card_id": "04:a2:3b:1c:5d:6e:80",
        "staff_cards-0-label": "職員証",
        "staff_cards-0-active": "on",
        "staff_cards-0-user": str(user.pk),
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    card = StaffCard.objects.get(user=user)
    assert card.card_id_digest == services.card_id_digest(CARD_ID) and card.label == "職員証"
    record = AuditEvent.objects.get(target_type="staff_card")
    assert record.actor == admin_user and record.detail["kind"] == "card_registered"
    assert CARD_ID not in json.dumps(record.detail)

    # The same card for someone else: refused with a clear message, nothing added.
    other = UserFactory.create()
    data.update({"username": other.username, "staff_cards-0-user": str(other.pk)})
    response = client.post(reverse("admin:accounts_user_change", args=[other.pk]), data)
    assert response.status_code == 200 and "このカードは既に登録されています" in response.content.decode()
    assert StaffCard.objects.count() == 1


# --- never kept, never logged --------------------------------------------------------------------------------


def test_the_pin_and_the_card_id_are_neither_logged_nor_stored(
    counter_pc: Client, terminal: Terminal, staff: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tap(terminal)
    token = snapshot(counter_pc)["token"]
    send_pin(counter_pc, token, "195037")
    send_pin(counter_pc, token, PIN)
    assert logged_in_as(counter_pc) == staff.pk
    tap(terminal, card_id="AABBCCDDEEFF0011")  # unknown
    counter_pc.post(
        reverse("accounts:card_pin"), {"password": PASSWORD, "pin": "864200", "pin_again": "864200"}
    )
    staff.refresh_from_db()
    assert check_password("864200", staff.card_pin_hash)

    logged = caplog.text + repr([record.args for record in caplog.records])
    stored = database_dump()
    assert caplog.records  # the requests were logged at all, so the check below can fail
    for secret in (PIN, "195037", "864200", CARD_ID, CARD_ID.lower(), "AABBCCDDEEFF0011"):
        assert secret not in logged, secret
        assert secret not in stored, secret


def test_a_card_and_pin_login_is_two_factors_and_asks_no_one_time_code(
    counter_pc: Client, terminal: Terminal, staff: User, settings: Any
) -> None:
    settings.MADOGUCHI_OTP_REQUIRED = True
    staff.groups.add(Group.objects.get(name="supervisor"), Group.objects.get(name="system_admin"))
    tap(terminal)
    response = send_pin(counter_pc, snapshot(counter_pc)["token"], PIN, next_url="/devices/")
    assert response.status_code == 302 and response["Location"] == "/devices/"
    assert counter_pc.get("/devices/").status_code == 200

    # The same user signing in with the password instead is held for a code.
    other = Client()
    staff.set_password(PASSWORD)
    staff.save()
    assert other.login(username=staff.username, password=PASSWORD)
    assert other.get("/devices/").status_code == 302
