"""Terminals: created on the status page with a one-time registration code, registered by the agent for its
secret, heartbeats with device status, the status page, and disabling — each refusal clear and changing nothing
but what it says."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from devices import services
from devices.events import _HANDLERS, event_handler_register
from devices.models import (
    AgentEvent,
    Device,
    DeviceStatus,
    PrintJob,
    PrintKind,
    PrintStatus,
    Terminal,
    TerminalNonce,
)
from madoguchi.audit.models import AuditEvent
from tests.conftest import database_dump
from tests.factories import CounterFactory, TerminalFactory, UserFactory

from .signed import signed_post

pytestmark = pytest.mark.django_db


def _client(*roles: str) -> Client:
    client = Client()
    client.force_login(UserFactory.create(roles=list(roles)))
    return client


def _register(terminal: str, code: str) -> Any:
    return Client().post(
        reverse("devices:register"),
        json.dumps({"terminal": terminal, "code": code}),
        content_type="application/json",
    )


def _heartbeat(**devices: str) -> dict[str, Any]:
    return {
        "type": "heartbeat",
        "id": uuid.uuid4().hex,
        "agent": {"version": "1.4.0", "started_at": "2026-11-21T08:30:00+09:00"},
        "devices": [
            {"kind": kind, "driver": "simulated", "status": status, "detail": f"{kind} detail"}
            for kind, status in devices.items()
        ],
    }


# --- creating and registering -----------------------------------------------------------------------------------


def test_an_admin_creates_a_terminal_and_its_agent_registers_once_with_the_code() -> None:
    admin = _client("system_admin")
    response = admin.post(
        reverse("devices:terminal_create"), {"code": "K01", "name": "市民課1番", "location": "1階"}
    )
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    shown = re.search(r'data-testid="registration-code">([A-Z0-9-]+)<', response.content.decode())
    assert shown is not None
    code = shown.group(1)
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code) and not set(code) & set("01ILO")
    terminal = Terminal.objects.get(code="K01")
    assert terminal.location == "1階" and terminal.registered_at is None
    assert code.replace("-", "") not in database_dump()  # only the code's keyed hash is kept

    registered = _register("K01", code.lower())  # typed in lower case, with the hyphens: still the code
    assert registered.status_code == 200, registered.content
    answer = registered.json()
    assert answer["terminal"] == "K01" and len(answer["secret"]) >= 40
    terminal.refresh_from_db()
    assert terminal.secret == answer["secret"] and terminal.registered_at is not None
    assert signed_post(Client(), terminal, _heartbeat(card_reader="ok")).status_code == 200

    again = _register("K01", code)
    assert again.status_code == 403 and "no registration code is pending" in again.json()["error"]
    terminal.refresh_from_db()
    assert terminal.secret == answer["secret"]

    audit = list(
        AuditEvent.objects.filter(target_type="terminal", target_ref="K01").values_list("detail", flat=True)
    )
    assert [detail["kind"] for detail in reversed(audit)] == ["created", "registration_code", "registered"]
    logged = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert answer["secret"] not in logged and code.replace("-", "") not in logged


def test_wrong_codes_are_counted_and_the_fifth_voids_the_code() -> None:
    terminal, code = services.terminal_create(code="K02", name="端末", location="", actor=None)
    secret = terminal.secret
    for left in (4, 3, 2, 1):
        wrong = _register("K02", "ABCDEFGHJKMN")
        assert wrong.status_code == 403 and f"{left} tries left" in wrong.json()["error"]
    fifth = _register("K02", "ABCDEFGHJKMN")
    assert fifth.status_code == 403 and "now void" in fifth.json()["error"]
    right = _register("K02", code)
    assert right.status_code == 403 and "no registration code is pending" in right.json()["error"]
    terminal.refresh_from_db()
    assert terminal.secret == secret and terminal.registered_at is None
    # A new code from the administrator works again.
    fresh = services.terminal_code_issue(terminal=terminal, actor=None)
    assert _register("K02", fresh).status_code == 200


def test_an_expired_code_and_an_unknown_terminal_are_refused_and_change_nothing() -> None:
    terminal, code = services.terminal_create(code="K03", name="端末", location="", actor=None)
    Terminal.objects.filter(pk=terminal.pk).update(
        registration_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    before = Terminal.objects.filter(pk=terminal.pk).values().get()
    expired = _register("K03", code)
    assert expired.status_code == 403 and "expired" in expired.json()["error"]
    assert Terminal.objects.filter(pk=terminal.pk).values().get() == before
    unknown = _register("nope", code)
    assert unknown.status_code == 403 and "unknown terminal 'nope'" in unknown.json()["error"]


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"terminal": "K04"}', b'{"terminal": 4, "code": "x"}']
)
def test_a_malformed_registration_is_refused(body: bytes) -> None:
    response = Client().post(reverse("devices:register"), body, content_type="application/json")
    assert response.status_code == 400 and "malformed registration" in response.json()["error"]


def test_a_new_code_rotates_the_secret_of_a_replaced_pc() -> None:
    terminal, code = services.terminal_create(code="K05", name="端末", location="", actor=None)
    old_secret = _register("K05", code).json()["secret"]
    admin = _client("system_admin")
    page = admin.post(reverse("devices:terminal_code_issue", args=["K05"])).content.decode()
    new_code = re.search(r'data-testid="registration-code">([A-Z0-9-]+)<', page)
    assert new_code is not None
    terminal.refresh_from_db()
    # Until the new PC registers, the old one still works.
    assert signed_post(Client(), terminal, _heartbeat()).status_code == 200
    new_secret = _register("K05", new_code.group(1)).json()["secret"]
    assert new_secret != old_secret
    refused = signed_post(Client(), terminal, _heartbeat(), secret=old_secret)
    assert refused.status_code == 403 and refused.json()["error"] == "unknown terminal or bad signature"


def test_a_terminal_code_must_be_a_new_slug() -> None:
    TerminalFactory.create(code="K06")
    admin = _client("system_admin")
    taken = admin.post(reverse("devices:terminal_create"), {"code": "k06", "name": "端末"})
    assert taken.status_code == 400 and "既に使われています" in taken.content.decode()
    bad = admin.post(reverse("devices:terminal_create"), {"code": "K 07", "name": "端末"})
    assert bad.status_code == 400
    assert Terminal.objects.count() == 1


# --- heartbeats ----------------------------------------------------------------------------------------------------


def test_a_heartbeat_records_the_agent_and_its_devices_and_a_device_no_longer_reported_is_absent() -> None:
    terminal = TerminalFactory.create()
    first = signed_post(
        Client(), terminal, _heartbeat(card_reader="ok", qr_scanner="error", receipt_printer="ok")
    )
    assert first.status_code == 200 and first.json() == {"terminal": terminal.code, "status": "ok"}
    terminal.refresh_from_db()
    assert terminal.agent_version == "1.4.0" and terminal.last_heartbeat_at is not None
    assert terminal.agent_started_at == dt.datetime(2026, 11, 20, 23, 30, tzinfo=dt.UTC)
    assert dict(Device.objects.filter(terminal=terminal).values_list("kind", "status")) == {
        "card_reader": "ok",
        "qr_scanner": "error",
        "receipt_printer": "ok",
    }
    signed_post(Client(), terminal, _heartbeat(card_reader="error", receipt_printer="ok"))
    devices = {device.kind: device for device in Device.objects.filter(terminal=terminal)}
    assert devices["card_reader"].status == "error" and devices["card_reader"].detail == "card_reader detail"
    assert devices["qr_scanner"].status == DeviceStatus.ABSENT and devices["qr_scanner"].driver == "simulated"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"devices": [{"kind": "toaster", "driver": "x", "status": "ok", "detail": ""}]}, "devices[0].kind"),
        (
            {"devices": [{"kind": "card_reader", "driver": "x", "status": "fine", "detail": ""}]},
            "devices[0].status",
        ),
        ({"devices": "card_reader"}, "devices: expected a list"),
        ({"agent": {"version": "1", "started_at": "yesterday"}}, "agent.started_at"),
        ({"agent": {"version": 1, "started_at": "2026-11-21T08:30:00"}}, "agent.version"),
    ],
)
def test_a_malformed_heartbeat_is_refused_naming_the_field_and_changes_nothing(
    change: dict[str, Any], named: str
) -> None:
    terminal = TerminalFactory.create()
    signed_post(Client(), terminal, _heartbeat(card_reader="ok"))
    before = (Terminal.objects.filter(pk=terminal.pk).values().get(), list(Device.objects.values()))
    response = signed_post(Client(), terminal, {**_heartbeat(card_reader="error"), **change})
    assert response.status_code == 400 and named in response.json()["error"]
    terminal.refresh_from_db()
    after = (Terminal.objects.filter(pk=terminal.pk).values().get(), list(Device.objects.values()))
    assert {**after[0], "last_seen_at": None} == {**before[0], "last_seen_at": None} and after[1] == before[1]


# --- events handled once -----------------------------------------------------------------------------------------


@pytest.fixture
def counted() -> Any:
    """A handler for the event type ``test.counted`` that counts its calls and refuses when asked to."""
    calls: list[str] = []

    def handle(terminal: Terminal, event: Any) -> dict[str, Any]:
        if event.get("refuse"):
            raise services.EventRefused("refused by the test handler")
        calls.append(event["id"])
        return {"calls": len(calls)}

    event_handler_register("test.counted", handle)
    yield calls
    del _HANDLERS["test.counted"]


def test_an_event_sent_again_gets_the_first_answer_and_is_not_handled_again(counted: list[str]) -> None:
    terminal = TerminalFactory.create()
    event = {"type": "test.counted", "id": uuid.uuid4().hex}
    first = signed_post(Client(), terminal, event)
    second = signed_post(Client(), terminal, event)  # a new request (new nonce), the same event
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == {"calls": 1} and len(counted) == 1
    assert signed_post(Client(), terminal, {"type": "test.counted", "id": uuid.uuid4().hex}).json() == {
        "calls": 2
    }
    # Without an id (older agents), an event is handled every time.
    signed_post(Client(), terminal, {"type": "test.counted", "id": None})
    assert len(counted) == 3


def test_a_refused_event_leaves_no_record_and_can_be_sent_again(counted: list[str]) -> None:
    terminal = TerminalFactory.create()
    event_id = uuid.uuid4().hex
    refused = signed_post(Client(), terminal, {"type": "test.counted", "id": event_id, "refuse": True})
    assert refused.status_code == 403 and not AgentEvent.objects.exists()
    assert signed_post(Client(), terminal, {"type": "test.counted", "id": event_id}).json() == {"calls": 1}


def test_an_event_id_is_a_uuid_and_is_not_reused_for_another_type(counted: list[str]) -> None:
    terminal = TerminalFactory.create()
    bad = signed_post(Client(), terminal, {"type": "test.counted", "id": "1; DROP TABLE"})
    assert bad.status_code == 400 and "is not a uuid" in bad.json()["error"]
    event_id = uuid.uuid4().hex
    signed_post(Client(), terminal, {"type": "test.counted", "id": event_id})
    reused = signed_post(Client(), terminal, {**_heartbeat(), "id": event_id})
    assert reused.status_code == 400 and "was a 'test.counted' event" in reused.json()["error"]
    assert not Device.objects.exists()


def test_the_same_event_id_from_two_terminals_is_two_events(counted: list[str]) -> None:
    event = {"type": "test.counted", "id": uuid.uuid4().hex}
    signed_post(Client(), TerminalFactory.create(), event)
    signed_post(Client(), TerminalFactory.create(), event)
    assert len(counted) == 2


def test_old_nonces_and_event_ids_are_purged(settings, counted: list[str]) -> None:
    settings.MADOGUCHI_AGENT_EVENT_RETENTION_HOURS = 24
    terminal = TerminalFactory.create()
    old, recent = uuid.uuid4().hex, uuid.uuid4().hex
    signed_post(Client(), terminal, {"type": "test.counted", "id": old})
    signed_post(Client(), terminal, {"type": "test.counted", "id": recent})
    AgentEvent.objects.filter(event_id=old).update(processed_at=timezone.now() - dt.timedelta(hours=25))
    first_nonce = TerminalNonce.objects.order_by("pk").values_list("pk", flat=True)[:1]
    TerminalNonce.objects.filter(pk__in=list(first_nonce)).update(
        seen_at=timezone.now() - dt.timedelta(seconds=601)
    )
    assert services.agent_records_purge() == (1, 1)
    assert list(AgentEvent.objects.values_list("event_id", flat=True)) == [recent]


# --- the status page -----------------------------------------------------------------------------------------------


def test_the_status_page_shows_each_terminal_its_counters_devices_and_jobs(settings) -> None:
    settings.MADOGUCHI_TERMINAL_OFFLINE_SECONDS = 90
    counter = CounterFactory.create(name="市民課 3番窓口")
    online = counter.terminal
    assert online is not None
    signed_post(Client(), online, _heartbeat(card_reader="ok", receipt_printer="error"))
    offline = TerminalFactory.create(code="Z99")
    signed_post(Client(), offline, _heartbeat(card_reader="ok"))
    Terminal.objects.filter(pk=offline.pk).update(last_heartbeat_at=timezone.now() - dt.timedelta(seconds=91))
    PrintJob.objects.create(terminal=online, kind=PrintKind.RECEIPT, title="番号札", receipt={"lines": []})
    PrintJob.objects.create(
        terminal=online,
        kind=PrintKind.RECEIPT,
        title="番号札",
        status=PrintStatus.FAILED,
        finished_at=timezone.now(),
    )

    page = _client("supervisor").get(reverse("devices:status"))
    assert page.status_code == 200
    html = page.content.decode()
    row = html[html.index(f'data-terminal="{online.code}"') :]
    row = row[: row.index("</tr>")]
    assert "市民課 3番窓口" in row and "オンライン" in row and "エージェント 1.4.0" in row
    assert 'data-device="card_reader" data-status="ok"' in row and "正常" in row
    assert 'data-device="receipt_printer" data-status="error"' in row and "異常" in row
    assert "印刷待ち 1 件" in row and "印刷失敗 1 件" in row
    other = html[html.index('data-terminal="Z99"') :]
    assert "オフライン" in other[: other.index("</tr>")]
    # Supervisors see; only system administrators act.
    assert "登録コードを発行" not in html and 'data-testid="terminal-create"' not in html
    assert (
        'data-testid="terminal-create"'
        in _client("system_admin").get(reverse("devices:status")).content.decode()
    )


def test_only_supervisors_and_system_admins_see_the_page_and_only_admins_change_terminals() -> None:
    assert _client("clerk").get(reverse("devices:status")).status_code == 403
    assert Client().get(reverse("devices:status")).status_code == 302
    supervisor = _client("supervisor")
    refused = supervisor.post(reverse("devices:terminal_create"), {"code": "K10", "name": "端末"})
    assert refused.status_code == 403 and not Terminal.objects.filter(code="K10").exists()
    terminal = TerminalFactory.create()
    assert supervisor.post(reverse("devices:terminal_disable", args=[terminal.code])).status_code == 403
    terminal.refresh_from_db()
    assert terminal.enabled


def test_a_disabled_terminal_is_refused_until_enabled_again() -> None:
    terminal = TerminalFactory.create()
    admin = _client("system_admin")
    response = admin.post(reverse("devices:terminal_disable", args=[terminal.code]))
    assert response.status_code == 302
    terminal.refresh_from_db()
    assert not terminal.enabled
    refused = signed_post(Client(), terminal, _heartbeat(card_reader="ok"))
    assert refused.status_code == 403 and refused.json()["error"] == f"terminal {terminal.code} is disabled"
    assert not Device.objects.exists()
    assert "無効" in admin.get(reverse("devices:status")).content.decode()
    # No registration code for a disabled terminal; enabling it lets its agent in again.
    admin.post(reverse("devices:terminal_code_issue", args=[terminal.code]))
    terminal.refresh_from_db()
    assert not terminal.registration_code_hash
    admin.post(reverse("devices:terminal_enable", args=[terminal.code]))
    assert signed_post(Client(), terminal, _heartbeat(card_reader="ok")).status_code == 200
    kinds = list(
        AuditEvent.objects.filter(target_ref=terminal.code)
        .order_by("pk")
        .values_list("detail__kind", flat=True)
    )
    assert kinds == ["disabled", "enabled"]
