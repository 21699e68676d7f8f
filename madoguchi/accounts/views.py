"""Staff login by IC card + PIN at a counter PC, and the card PIN page.

The counter PC's browser is bound to its terminal (``terminal_binding``). Its login page waits for a tap on that
terminal's staff reader over server-sent events (topic ``terminal:<code>:login``), then asks for the PIN of the
user whose card it was."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import time_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from devices.models import Terminal
from madoguchi import push
from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record

from . import second_factor, selectors, services, terminal_binding
from .forms import CardPinForm, TerminalBindForm
from .models import User
from .roles import Role, role_required

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def refusal_messages() -> dict[str, str]:
    """The login page's messages for a refused tap or PIN, by reason (the page shows pushed reasons with them)."""
    return {
        "unknown_card": _("登録されていないカードです"),
        "locked": _("このアカウントのカードログインはロックされています。しばらくしてからお試しください。"),
        "no_pin": _("カードのPINが設定されていません。パスワードでログインし、PINを設定してください。"),
        "invalid": _("このログインは無効です。もう一度カードをかざしてください。"),
        "other_terminal": _("この端末でかざしたカードではありません。もう一度カードをかざしてください。"),
        "used": _("このログインは使用済みです。もう一度カードをかざしてください。"),
        "expired": _("時間切れです。もう一度カードをかざしてください。"),
        "inactive": _("このアカウントは使用できません。"),
        "unbound": _("このブラウザは端末に登録されていません。"),
    }


def _refusal_text(refused: services.CardLoginRefused) -> str:
    if refused.reason == "wrong_pin":
        return _("PINが違います。あと%(tries)d回間違えるとロックされます。") % {
            "tries": refused.tries_left or 0
        }
    if refused.reason == "locked" and refused.locked_until is not None:
        until = time_format(timezone.localtime(refused.locked_until), "H:i")
        return _("PINを続けて間違えたため、%(until)sまでカードログインはロックされています。") % {
            "until": until
        }
    return refusal_messages().get(refused.reason, _("ログインできませんでした。"))


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return "/"


def _login_page(
    request: HttpRequest,
    terminal: Terminal | None,
    *,
    error: str = "",
    pending: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    if terminal is not None and pending is None:
        pending = selectors.card_login_snapshot(terminal=terminal)
    return render(
        request,
        "accounts/card_login.html",
        {
            "terminal": terminal,
            "pending": pending or {},
            "error": error,
            "next": _next_url(request),
            "refusals": refusal_messages(),
        },
        status=status,
    )


@require_GET
def card_login(request: HttpRequest) -> HttpResponse:
    """The counter PC's login page: waits for a staff card tap, then asks for the PIN."""
    return _login_page(request, terminal_binding.bound_terminal(request))


async def card_login_events(request: HttpRequest) -> HttpResponseBase:
    """Server-sent events of the bound terminal's taps: a snapshot (the pending tap, or nothing), then
    ``card.tapped`` and ``card.refused`` events."""
    terminal = await sync_to_async(terminal_binding.bound_terminal)(request)
    if terminal is None:
        return JsonResponse({"error": refusal_messages()["unbound"]}, status=403)

    async def snapshot() -> dict[str, Any]:
        return await sync_to_async(selectors.card_login_snapshot)(terminal=terminal)

    return push.sse_response(request, topics=[services.login_topic(terminal)], snapshot=snapshot)


@sensitive_post_parameters("pin")
@require_POST
def card_login_pin(request: HttpRequest) -> HttpResponse:
    """The PIN for a tap: logs the user in on success and goes to ``next`` (the clerk's desk by default)."""
    terminal = terminal_binding.bound_terminal(request)
    if terminal is None:
        return _login_page(request, None, status=403)
    token = request.POST.get("token", "")
    try:
        user = services.card_login_complete(token=token, terminal=terminal, pin=request.POST.get("pin", ""))
    except services.CardLoginRefused as refused:
        # After a wrong PIN the same tap may be tried again; otherwise the page waits for a new tap.
        pending = selectors.card_login_snapshot(terminal=terminal) if refused.retry else {}
        if pending.get("token") != token:
            pending = {}
        return _login_page(request, terminal, error=_refusal_text(refused), pending=pending, status=403)
    login(request, user, backend=MODEL_BACKEND)
    second_factor.card_login_mark(request)
    return HttpResponseRedirect(_next_url(request))


@role_required(Role.SYSTEM_ADMIN)
def card_login_bind(request: HttpRequest) -> HttpResponse:
    """A system admin, in the counter PC's browser, binds that browser to its terminal."""
    current = terminal_binding.bound_terminal(request)
    form = TerminalBindForm(request.POST or None, initial={"terminal": current})
    if request.method == "POST" and form.is_valid():
        terminal: Terminal = form.cleaned_data["terminal"]
        audit_record(
            actor=request.user,
            action=AuditAction.ADMIN,
            target_type="terminal",
            target_ref=terminal.code,
            detail={"kind": "browser_bound"},
        )
        response = redirect("accounts:card_login")
        terminal_binding.binding_set(response, request=request, terminal=terminal)
        messages.success(request, _("このブラウザを端末 %(code)s に登録しました。") % {"code": terminal.code})
        return response
    return render(request, "accounts/card_login_bind.html", {"form": form, "current": current})


@sensitive_post_parameters("pin", "pin_again")
@login_required
def card_pin(request: HttpRequest) -> HttpResponse:
    """Set or change one's own card PIN (needs the current password)."""
    user = request.user
    assert isinstance(user, User)
    form = CardPinForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        had_pin = bool(user.card_pin_hash)
        services.card_pin_set(user=user, pin=form.cleaned_data["pin"], actor=user)
        messages.success(
            request, _("カードのPINを変更しました。") if had_pin else _("カードのPINを設定しました。")
        )
        return redirect(reverse("accounts:card_pin"))
    return render(
        request,
        "accounts/card_pin.html",
        {"form": form, "has_pin": bool(user.card_pin_hash), "cards": user.staff_cards.filter(active=True)},
    )


# --- one-time codes (second_factor) -------------------------------------------------------------------------


def _code_page(
    request: HttpRequest,
    device: Any,
    *,
    enrolling: bool,
    template: str,
    context: dict[str, Any] | None = None,
) -> HttpResponse:
    """Show a code page; a POSTed code that verifies goes on to ``next``, a wrong one shows why (403)."""
    error, status = "", 200
    if request.method == "POST":
        try:
            second_factor.code_verify(request, device, request.POST.get("code", ""), enrolling=enrolling)
        except second_factor.CodeRefused as refused:
            error, status = str(refused), 403
        else:
            if enrolling:
                messages.success(
                    request, _("認証アプリを登録しました。次回から、ログインのたびにコードを入力します。")
                )
            return HttpResponseRedirect(_next_url(request))
    page = {"error": error, "next": _next_url(request), **(context or {})}
    return render(request, template, page, status=status)


@sensitive_post_parameters("code")
@login_required
def otp_verify(request: HttpRequest) -> HttpResponse:
    """The one-time code after the password, for users who need one (second_factor)."""
    device = second_factor.device_confirmed(request.user)
    if device is None:
        return redirect(f"{reverse('accounts:otp_setup')}?{request.GET.urlencode()}")
    return _code_page(request, device, enrolling=False, template="accounts/otp_verify.html")


@sensitive_post_parameters("code")
@login_required
def otp_setup(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: scan the QR code (or type the key), then enter its first code. A user who has
    one already is sent to enter a code instead (a lost phone is reset by a system admin, who deletes the device)."""
    if second_factor.device_confirmed(request.user) is not None:
        return redirect(f"{reverse('accounts:otp_verify')}?{request.GET.urlencode()}")
    device = second_factor.device_for_enrolment(request.user)
    context = {"qr": second_factor.enrolment_qr(device), "secret": second_factor.enrolment_secret(device)}
    return _code_page(request, device, enrolling=True, template="accounts/otp_setup.html", context=context)
