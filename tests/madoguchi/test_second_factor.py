"""Password + one-time code (TOTP) for admin roles; clerks and card logins need no code."""

from __future__ import annotations

import re
import time
from base64 import b32decode

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from madoguchi.accounts.models import User
from madoguchi.audit.models import AuditEvent
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _codes_required(settings) -> None:
    settings.MADOGUCHI_OTP_REQUIRED = True


def _signed_in(*roles: str, **fields: object) -> tuple[Client, User]:
    user = UserFactory.create(roles=list(roles), **fields)
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client, user


def _code(key: bytes, *, offset: int = 0) -> str:
    totp = TOTP(key, step=30, digits=6)
    totp.time = time.time() + offset
    return f"{totp.token():06d}"


def _enrol(client: Client) -> bytes:
    """Go through the enrolment page as a person with an authenticator app does; returns the app's key."""
    page = client.get(reverse("accounts:otp_setup")).content.decode()
    secret = re.search(r"<code data-otp-secret>([A-Z2-7 ]+)</code>", page)
    assert secret, page
    raw = secret.group(1).replace(" ", "")
    key = b32decode(raw + "=" * (-len(raw) % 8))
    response = client.post(reverse("accounts:otp_setup"), {"code": _code(key), "next": "/audit/"})
    assert response.status_code == 302 and response["Location"] == "/audit/"
    return key


@pytest.mark.parametrize("role", ["system_admin", "form_admin", "auditor"])
def test_an_admin_role_first_enrols_an_app_then_enters_a_code_at_every_login(role: str, settings) -> None:
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # the back-off after a wrong code has a test of its own
    client, user = _signed_in(role)
    response = client.get("/audit/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:otp_setup"))
    assert "next=%2Faudit%2F" in response["Location"]
    page = client.get(response["Location"]).content.decode()
    assert 'src="data:image/svg+xml' in page  # the QR code for the app's camera

    key = _enrol(client)
    assert TOTPDevice.objects.get(user=user).confirmed
    assert AuditEvent.objects.filter(actor=user, detail__kind="otp_enrolled").exists()

    # The next login asks for a code from the same app.
    client.post(reverse("accounts:logout"))
    assert client.login(username=user.username, password=PASSWORD)
    response = client.get(reverse("devices:status"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:otp_verify"))
    refused = client.post(reverse("accounts:otp_verify"), {"code": "000000"})
    assert refused.status_code == 403 and "正しくありません" in refused.content.decode()
    assert client.get(reverse("devices:status")).status_code == 302  # still held
    # The enrolment's code cannot be replayed; the app's next code (one step later) is taken.
    assert client.post(reverse("accounts:otp_verify"), {"code": _code(key)}).status_code == 403
    response = client.post(
        reverse("accounts:otp_verify"), {"code": _code(key, offset=30), "next": "/devices/"}
    )
    assert response.status_code == 302 and response["Location"] == "/devices/"
    assert client.get(reverse("accounts:card_pin")).status_code == 200  # through to any page now
    kinds = list(AuditEvent.objects.filter(actor=user).values_list("detail__kind", flat=True))
    assert "otp_refused" in kinds and "otp_verified" in kinds
    assert "000000" not in str(list(AuditEvent.objects.values_list("detail", flat=True)))


def test_a_wrong_enrolment_code_does_not_confirm_the_app() -> None:
    client, user = _signed_in("system_admin")
    client.get(reverse("accounts:otp_setup"))
    response = client.post(reverse("accounts:otp_setup"), {"code": "12345x"})
    assert response.status_code == 403
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    assert client.get(reverse("accounts:card_pin")).status_code == 302  # still held at the code pages


def test_an_enrolled_admin_cannot_enrol_a_second_app_without_a_code() -> None:
    client, user = _signed_in("auditor")
    _enrol(client)
    client.post(reverse("accounts:logout"))
    assert client.login(username=user.username, password=PASSWORD)
    response = client.get(reverse("accounts:otp_setup"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:otp_verify"))
    assert TOTPDevice.objects.filter(user=user).count() == 1


def test_repeated_wrong_codes_are_throttled() -> None:
    client, user = _signed_in("auditor")
    key = _enrol(client)
    client.post(reverse("accounts:logout"))
    assert client.login(username=user.username, password=PASSWORD)
    for _ in range(3):
        client.post(reverse("accounts:otp_verify"), {"code": "000000"})
    # Throttled: even the right code waits until the back-off has passed.
    response = client.post(reverse("accounts:otp_verify"), {"code": _code(key, offset=30)})
    assert response.status_code == 403 and "しばらく" in response.content.decode()


def test_a_clerk_needs_no_code() -> None:  # card + PIN logins: test_card_login.py
    clerk, _user = _signed_in("clerk")
    assert clerk.get(reverse("counters:home")).status_code == 200


def test_requests_that_are_not_page_loads_are_refused_not_redirected() -> None:
    client, _user = _signed_in("form_admin")
    response = client.post(reverse("forms_engine:template_create"), {})
    assert response.status_code == 403 and response.json() == {"error": "one-time code required"}


def test_the_admin_site_needs_a_code_too() -> None:
    client, _user = _signed_in(is_staff=True)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:otp_setup"))


def test_turned_off_no_code_is_asked(settings) -> None:
    settings.MADOGUCHI_OTP_REQUIRED = False
    client, _user = _signed_in("auditor")
    assert client.get("/audit/").status_code == 200


def test_a_misspelt_role_in_the_setting_is_a_system_check_error(settings) -> None:
    from madoguchi.accounts.second_factor import otp_roles_check

    assert otp_roles_check() == []
    settings.MADOGUCHI_OTP_ROLES = ["system_admin", "sysadmin"]
    (error,) = otp_roles_check()
    assert error.id == "madoguchi.E010" and "sysadmin" in error.msg
