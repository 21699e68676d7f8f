"""Rate limits (issue 8 point 6): a one-time registration code or a tablet pairing code cannot be found by trying,
one agent cannot flood the event API; past the limit the answer is 429 with Retry-After (or the pairing page says
so), the right code included, and nothing changes. A cache that is down limits nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings

from counters import services as counters
from counters.models import TabletPairing
from devices import services as devices
from devices.models import Terminal
from tests.devices.signed import signed_post
from tests.factories import CounterFactory, TerminalFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def limited(settings: Settings) -> None:
    settings.MADOGUCHI_THROTTLE_RATES = {"register": "3/m", "pair": "3/m", "agent_event": "3/m"}


def _register(terminal: str, code: str) -> Any:
    body = json.dumps({"terminal": terminal, "code": code})
    return Client().post(reverse("devices:register"), body, content_type="application/json")


def test_guessing_a_registration_code_is_stopped(limited: None) -> None:
    terminal, code = devices.terminal_create(
        code=f"G{uuid.uuid4().hex[:6]}", name="窓口PC", location="", actor=None
    )
    for guess in ("000000", "111111", "222222"):
        assert _register(terminal.code, guess).status_code == 403
    stopped = _register(terminal.code, code)  # even the right one, once over the limit
    assert stopped.status_code == 429 and int(stopped["Retry-After"]) >= 1
    assert "too many registration attempts" in stopped.json()["error"]
    assert Terminal.objects.get(pk=terminal.pk).registered_at is None


def test_guessing_a_pairing_code_is_stopped(limited: None, clerk) -> None:
    counter = CounterFactory.create(code=f"c{uuid.uuid4().hex[:6]}")
    code = counters.pairing_code_issue(counter=counter, clerk=clerk)
    client = Client()
    for guess in ("0000", "1111", "2222"):
        assert (
            client.post(reverse("tablet:pair"), {"counter": counter.code, "code": guess}).status_code == 400
        )
    page = client.post(reverse("tablet:pair"), {"counter": counter.code, "code": code})
    assert page.status_code == 429 and "試行が多すぎます" in page.content.decode()
    assert not TabletPairing.objects.filter(counter=counter).exists()


def test_one_agent_cannot_flood_the_event_api(limited: None) -> None:
    terminal = TerminalFactory.create(code=f"F{uuid.uuid4().hex[:6]}")
    other = TerminalFactory.create(code=f"F{uuid.uuid4().hex[:6]}")
    beat = {
        "type": "heartbeat",
        "agent": {"version": "t", "started_at": "2026-01-01T00:00:00+00:00"},
        "devices": [],
    }
    assert [signed_post(Client(), terminal, beat).status_code for _ in range(3)] == [200, 200, 200]
    flooded = signed_post(Client(), terminal, beat)
    assert flooded.status_code == 429 and "Retry-After" in flooded
    assert signed_post(Client(), other, beat).status_code == 200  # another terminal has its own count


def test_with_the_cache_down_nothing_is_limited(limited: None, settings: Settings, clerk, caplog) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
        }
    }
    counter = CounterFactory.create(code=f"d{uuid.uuid4().hex[:6]}")
    code = counters.pairing_code_issue(counter=counter, clerk=clerk)
    for guess in ("0000", "1111", "2222", "3333"):
        Client().post(reverse("tablet:pair"), {"counter": counter.code, "code": guess})
    assert Client().post(reverse("tablet:pair"), {"counter": counter.code, "code": code}).status_code == 302
    assert "the cache is unreachable" in caplog.text
