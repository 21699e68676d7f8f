"""The second factor of admin logins: a one-time code (TOTP, django-otp) after the password.

Who needs it: users holding a role named in ``MADOGUCHI_OTP_ROLES`` (system admin, form admin, auditor by default)
and anyone who may open the admin site (``is_staff``). Until their session is verified, every page but the code
pages and logout sends them to enter a code (or, the first time, to enrol their authenticator app); requests that
are not page loads get 403. A card + PIN login at a counter PC is two factors already (the card and its PIN) and
counts as verified. ``MADOGUCHI_OTP_REQUIRED=0`` turns the requirement off (the demo does).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import segno
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.deprecation import MiddlewareMixin
from django.utils.translation import gettext as _
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record

from .roles import Role, has_role

CARD_LOGIN_SESSION_KEY = "madoguchi_card_login"


def otp_roles_check(**kwargs: Any) -> list[Any]:
    """System check: every name in MADOGUCHI_OTP_ROLES is a built-in role (a typo would leave a role without codes)."""
    from django.core.checks import Error

    known = {role.value for role in Role}
    unknown = [name for name in settings.MADOGUCHI_OTP_ROLES if name not in known]
    if not unknown:
        return []
    return [
        Error(
            f"MADOGUCHI_OTP_ROLES names roles that do not exist: {', '.join(unknown)}",
            hint=f"use some of: {', '.join(sorted(known))}",
            id="madoguchi.E010",
        )
    ]


def second_factor_needed(user: Any) -> bool:
    """Does ``user``'s password login need a one-time code?"""
    if not settings.MADOGUCHI_OTP_REQUIRED or not getattr(user, "is_authenticated", False):
        return False
    if user.is_staff or user.is_superuser:
        return True
    return any(has_role(user, role) for role in Role if role.value in settings.MADOGUCHI_OTP_ROLES)


def second_factor_pending(request: HttpRequest, user: Any) -> bool:
    """Is this session still waiting for its one-time code?"""
    if not getattr(user, "is_authenticated", False):
        return False
    if request.session.get(CARD_LOGIN_SESSION_KEY) == user.pk:
        return False
    verified = getattr(user, "is_verified", None)
    if verified is not None and verified():
        return False
    return second_factor_needed(user)


def card_login_mark(request: HttpRequest) -> None:
    """This session was opened by card + PIN: two factors, no code needed."""
    request.session[CARD_LOGIN_SESSION_KEY] = request.user.pk


def device_confirmed(user: Any) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def device_for_enrolment(user: Any) -> TOTPDevice:
    """The user's unconfirmed authenticator, made on the first visit of the enrolment page and kept until the
    first code from it confirms it (a reload shows the same QR code)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def enrolment_qr(device: TOTPDevice) -> str:
    """The otpauth:// URI as an SVG data URI, for the authenticator app's camera."""
    return str(segno.make(device.config_url, error="m").svg_data_uri(scale=4))


def enrolment_secret(device: TOTPDevice) -> str:
    """The key in base32, in groups of four, for typing into an app without a camera."""
    from base64 import b32encode

    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


class CodeRefused(Exception):
    """A one-time code that did not verify; the message says why (Japanese), never the code."""


def code_verify(request: HttpRequest, device: TOTPDevice, code: str, *, enrolling: bool) -> None:
    """Check ``code`` against ``device``; on success the session is verified (and an enrolment confirmed). Wrong
    codes slow the next tries down (django-otp's throttling) and are audited without the code."""
    user = request.user
    allowed, _details = device.verify_is_allowed()
    if not allowed:
        raise CodeRefused(
            _("コードの誤りが続いたため、しばらく入力できません。少し待ってからお試しください。")
        )
    code = "".join(code.split())
    if not (code.isdigit() and device.verify_token(code)):
        _audit(user, "otp_refused")
        raise CodeRefused(_("コードが正しくありません。アプリに表示されている6桁の数字を入力してください。"))
    if enrolling:
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    otp_login(request, device)
    _audit(user, "otp_enrolled" if enrolling else "otp_verified")


def _audit(user: Any, kind: str) -> None:
    audit_record(
        actor=user,
        action=AuditAction.ADMIN,
        target_type="user",
        target_ref=str(user.pk),
        detail={"kind": kind},
    )


# --- middleware ---------------------------------------------------------------------------------------------


def _exempt(request: HttpRequest) -> bool:
    """The pages a session owing its code may still open (static files never reach a view)."""
    return request.path in {
        reverse("accounts:otp_verify"),
        reverse("accounts:otp_setup"),
        reverse("accounts:logout"),
        "/healthz",
    }


def _refusal(request: HttpRequest, user: Any) -> HttpResponseBase:
    wants_page = request.method == "GET" and "text/event-stream" not in request.headers.get("Accept", "")
    if not wants_page:
        return JsonResponse({"error": "one-time code required"}, status=403)
    page = "accounts:otp_verify" if device_confirmed(user) else "accounts:otp_setup"
    return HttpResponseRedirect(f"{reverse(page)}?{urlencode({'next': request.get_full_path()})}")


class SecondFactorMiddleware(MiddlewareMixin):
    """Holds a session that still owes its one-time code at the code pages (after django-otp's OTPMiddleware).

    The check is a ``process_view``: Django runs it, like a sync view, in the request's own thread (under ASGI,
    the thread-sensitive one), so it adds no thread hop of its own to the chain, holds no second database
    connection, and the user it loads, with its permissions, is the one the view then uses."""

    def process_view(
        self, request: HttpRequest, view: Any, args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        if second_factor_pending(request, request.user) and not _exempt(request):
            return _refusal(request, request.user)
        return None
