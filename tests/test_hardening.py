"""HTTP hardening (issue 8 point 6): the security headers on every page, HSTS and secure cookies over HTTPS with
the production settings, and `manage.py check --deploy` clean with them."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings
from django.urls import reverse

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.django_db

PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECURE_COOKIES": "true",
    "DJANGO_SECURE_SSL_REDIRECT": "true",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "DJANGO_SECURE_HSTS_PRELOAD": "true",
    "DJANGO_BEHIND_TLS_PROXY": "true",
    "DJANGO_ALLOWED_HOSTS": "madoguchi.city.example.lg.jp",
}


def _directives(header: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("name", ["accounts:login", "healthz"])
def test_every_page_has_the_security_headers(name: str) -> None:
    response = Client().get(reverse(name) if ":" in name else "/healthz")
    csp = _directives(response["Content-Security-Policy"])
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]  # nothing inline runs
    assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
    assert csp["form-action"] == ["'self'"] and csp["default-src"] == ["'self'"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_no_page_template_carries_inline_script_or_style() -> None:
    """What the policy would block: every script and style must be a file."""
    offenders = []
    for template in ROOT.glob("**/templates/**/*.html"):
        if ".venv" in template.parts or "node_modules" in template.parts:
            continue
        text = template.read_text(encoding="utf-8")
        if "<script>" in text or "<style" in text or " style=" in text or " onclick=" in text:
            offenders.append(str(template.relative_to(ROOT)))
    assert offenders == []


@override_settings(SECURE_HSTS_SECONDS=31536000, SESSION_COOKIE_SECURE=True, CSRF_COOKIE_SECURE=True)
def test_over_https_strict_transport_security_and_secure_cookies(clerk) -> None:
    client = Client()
    page = client.get(reverse("accounts:login"), secure=True)
    assert page["Strict-Transport-Security"].startswith("max-age=31536000")
    assert page.cookies["csrftoken"]["secure"]
    client.force_login(clerk)
    response = client.get(reverse("counters:home"), secure=True)
    assert response.status_code == 200
    assert client.cookies["sessionid"]["secure"] and client.cookies["sessionid"]["httponly"]


@override_settings(SECURE_SSL_REDIRECT=True)
def test_plain_http_is_redirected_but_the_health_check() -> None:
    response = Client().get(reverse("accounts:login"))
    assert response.status_code == 301 and response["Location"].startswith("https://")
    assert Client().get("/healthz").status_code == 200


def test_check_deploy_is_clean_with_the_production_settings(tmp_path: Path) -> None:
    env = {
        **os.environ,
        **PRODUCTION,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "MADOGUCHI_DATA_KEY": base64.b64encode(os.urandom(32)).decode(),
        "MADOGUCHI_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_password_policy_refuses_short_common_numeric_and_name_like_passwords(db: None) -> None:
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    from tests.factories import UserFactory

    user = UserFactory.create(username="watanabe_hanako", display_name="渡辺")
    for weak in ("short1", "password1234", "123456789012345", "watanabehanako"):
        with pytest.raises(ValidationError):
            validate_password(weak, user)
    validate_password("correct horse battery staple", user)
