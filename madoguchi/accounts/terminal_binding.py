"""The counter PC's browser bound to its terminal: a long-lived signed cookie naming the terminal.

A system admin binds a browser once (views.card_login_bind); the card-login page then knows which terminal's taps
to wait for, and a PIN is accepted only from the browser of the terminal where the card was tapped. The cookie also
carries a fingerprint of the terminal's secret, so giving the terminal a new secret unbinds its browsers."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse

from devices.models import Terminal

COOKIE = "madoguchi_terminal"
_SALT = "madoguchi.accounts.terminal-binding"
# Browsers keep a cookie at most 400 days; a system admin binds the PC again after that.
MAX_AGE_SECONDS = 400 * 24 * 3600


def _fingerprint(terminal: Terminal) -> str:
    return hashlib.sha256(f"{_SALT}:{terminal.secret}".encode()).hexdigest()[:16]


def binding_set(response: HttpResponse, *, request: HttpRequest, terminal: Terminal) -> None:
    value = signing.dumps({"code": terminal.code, "fp": _fingerprint(terminal)}, salt=_SALT)
    response.set_cookie(
        COOKIE,
        value,
        max_age=MAX_AGE_SECONDS,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure() or settings.SESSION_COOKIE_SECURE,
    )


def bound_terminal(request: HttpRequest) -> Terminal | None:
    """The terminal this browser is bound to, or None (no cookie, a forged one, or the terminal is gone, disabled
    or has a new secret)."""
    value = request.COOKIES.get(COOKIE, "")
    if not value:
        return None
    try:
        data = signing.loads(value, salt=_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    terminal = Terminal.objects.filter(code=str(data.get("code", ""))).first()
    if terminal is None or not terminal.enabled or data.get("fp") != _fingerprint(terminal):
        return None
    return terminal
