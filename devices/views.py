"""The terminal status page (端末の状態): every counter PC, whether its agent is online, its devices, its print
jobs; system administrators create terminals, issue one-time registration codes and disable terminals.

Views only read the request, call ``devices.services`` / ``devices.selectors`` and render; the services audit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from madoguchi.accounts.roles import Role, any_role_required, has_role, role_required

from . import selectors, services
from .models import Terminal

View = Callable[..., HttpResponse]


def _viewer(view: View) -> View:
    """System administrators and supervisors see the page; others are refused (or sent to log in)."""
    return any_role_required(Role.SYSTEM_ADMIN, Role.SUPERVISOR)(view)


def _admin(view: View) -> View:
    """Only system administrators change terminals."""
    return role_required(Role.SYSTEM_ADMIN)(view)


class TerminalForm(forms.Form):
    code = forms.SlugField(label=gettext_lazy("端末コード"), max_length=32, help_text=gettext_lazy("例: K01"))
    name = forms.CharField(label=gettext_lazy("名称"), max_length=100)
    location = forms.CharField(label=gettext_lazy("設置場所"), max_length=100, required=False)


def _status_page(
    request: HttpRequest, *, form: TerminalForm | None = None, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "devices/status.html",
        {
            "terminals": selectors.terminals_health(),
            "form": form or TerminalForm(),
            "is_admin": has_role(request.user, Role.SYSTEM_ADMIN),
            "offline_seconds": settings.MADOGUCHI_TERMINAL_OFFLINE_SECONDS,
        },
        status=status,
    )


def _code_page(request: HttpRequest, terminal: Terminal, code: str, *, created: bool) -> HttpResponse:
    """The one-time code, shown in this response only: not stored in the session or a message, not cached."""
    response = render(
        request,
        "devices/registration_code.html",
        {
            "terminal": terminal,
            "code": services.registration_code_display(code),
            "hours": services.REGISTRATION_CODE_HOURS,
            "created": created,
        },
    )
    response["Cache-Control"] = "no-store"
    return response


def _terminal(code: str) -> Terminal:
    terminal = selectors.terminal_get(code=code)
    if terminal is None:
        raise Http404(_("端末「%(code)s」はありません") % {"code": code})
    return terminal


@require_GET
@_viewer
def status(request: HttpRequest) -> HttpResponse:
    return _status_page(request)


@require_POST
@_admin
def terminal_create(request: HttpRequest) -> HttpResponse:
    form = TerminalForm(request.POST)
    if form.is_valid():
        data: dict[str, Any] = form.cleaned_data
        try:
            terminal, code = services.terminal_create(
                code=data["code"], name=data["name"], location=data["location"], actor=request.user
            )
        except services.TerminalInvalid as invalid:
            form.add_error(None, str(invalid))
        else:
            return _code_page(request, terminal, code, created=True)
    return _status_page(request, form=form, status=400)


@require_POST
@_admin
def terminal_code_issue(request: HttpRequest, code: str) -> HttpResponse:
    terminal = _terminal(code)
    if not terminal.enabled:
        messages.error(request, _("無効にした端末には登録コードを発行できません。先に有効にしてください。"))
        return redirect("devices:status")
    return _code_page(
        request, terminal, services.terminal_code_issue(terminal=terminal, actor=request.user), created=False
    )


@require_POST
@_admin
def terminal_disable(request: HttpRequest, code: str) -> HttpResponse:
    terminal = _terminal(code)
    services.terminal_disable(terminal=terminal, actor=request.user)
    messages.success(
        request, _("端末 %(code)s を無効にしました。この端末からの通信は拒否されます。") % {"code": code}
    )
    return redirect("devices:status")


@require_POST
@_admin
def terminal_enable(request: HttpRequest, code: str) -> HttpResponse:
    terminal = _terminal(code)
    services.terminal_enable(terminal=terminal, actor=request.user)
    messages.success(request, _("端末 %(code)s を有効にしました。") % {"code": code})
    return redirect("devices:status")
