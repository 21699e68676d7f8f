"""Password login lockout (issue 8 point 2, django-axes): repeated failures lock the login ID, whichever PC they
come from; the right password then waits too; a success clears the count; a system admin can unlock."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
LOGIN = reverse("accounts:login")


@pytest.fixture
def lockout(settings: Settings) -> None:
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3


def _login(username: str, password: str, address: str = "10.0.0.1") -> tuple[int, str, Client]:
    client = Client(REMOTE_ADDR=address)
    response = client.post(LOGIN, {"username": username, "password": password})
    return response.status_code, response.content.decode(), client


def test_repeated_failures_lock_the_login_id_from_any_pc(lockout: None) -> None:
    user, other = UserFactory.create(roles=["clerk"]), UserFactory.create(roles=["clerk"])
    for n, address in enumerate(("10.0.0.1", "10.0.0.2")):
        status, page, _ = _login(user.username, "wrong-password", address)
        assert status == 200 and "正しくありません" in page, n
    assert _login(user.username, "wrong-password", "10.0.0.3")[0] == 429  # the third failure locks
    status, page, client = _login(user.username, PASSWORD, "10.0.0.9")
    assert status == 429 and "ロックされています" in page
    assert client.get(reverse("counters:home")).status_code == 302  # not logged in
    assert _login(other.username, PASSWORD)[0] == 302  # another login ID is not locked
    call_command("axes_reset_username", user.username)  # the system admin unlocks
    assert _login(user.username, PASSWORD)[0] == 302


def test_a_success_clears_the_failures(lockout: None) -> None:
    user = UserFactory.create(roles=["clerk"])
    for _ in range(2):
        _login(user.username, "wrong-password")
    assert _login(user.username, PASSWORD)[0] == 302
    for _ in range(2):
        _login(user.username, "wrong-password")
    assert _login(user.username, PASSWORD)[0] == 302
