"""The personnel update (人事異動) pages of system admins: upload a staff file, preview, confirm or cancel."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from . import personnel
from .models import StaffChangeKind, StaffUpdate, User
from .roles import Role, role_required

system_admin_required = role_required(Role.SYSTEM_ADMIN)


class StaffFileForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("職員CSV"),
        help_text=gettext_lazy(
            "見出し: 職員番号, 氏名, 所属, 役割, 異動日（, ICカードID）。UTF-8 または Shift_JIS。"
        ),
    )


def _index(
    request: HttpRequest, *, form: StaffFileForm, problems: list[str], status: int = 200
) -> HttpResponse:
    return render(
        request,
        "accounts/staff/index.html",
        {
            "form": form,
            "problems": problems,
            "updates": StaffUpdate.objects.select_related("uploaded_by")[:50],
        },
        status=status,
    )


@system_admin_required
def index(request: HttpRequest) -> HttpResponse:
    """The uploaded files, newest first, and the upload form."""
    if request.method != "POST":
        return _index(request, form=StaffFileForm(), problems=[])
    form = StaffFileForm(request.POST, request.FILES)
    if not form.is_valid():
        return _index(request, form=form, problems=[], status=400)
    upload = form.cleaned_data["file"]
    actor = request.user
    assert isinstance(actor, User)
    try:
        update = personnel.staff_update_parse(data=upload.read(), filename=upload.name, actor=actor)
    except personnel.StaffFileRefused as refused:
        return _index(request, form=form, problems=refused.problems, status=400)
    return redirect("staff:update", pk=update.pk)


@system_admin_required
def update(request: HttpRequest, pk: int) -> HttpResponse:
    """The preview: what each row changes, by kind, before (or after) it is confirmed."""
    staff_update = get_object_or_404(StaffUpdate.objects.select_related("uploaded_by", "confirmed_by"), pk=pk)
    changes = list(staff_update.changes.all())
    return render(
        request,
        "accounts/staff/update.html",
        {
            "update": staff_update,
            "changes": changes,
            "counts": {kind.label: sum(1 for c in changes if c.kind == kind) for kind in StaffChangeKind},
        },
    )


def _decided(request: HttpRequest, pk: int, decide: Callable[[StaffUpdate, User], str]) -> HttpResponse:
    """Confirm or cancel an update for the admin: the outcome, or why it could not be done, as a message."""
    staff_update = get_object_or_404(StaffUpdate, pk=pk)
    actor = request.user
    assert isinstance(actor, User)
    try:
        messages.success(request, decide(staff_update, actor))
    except personnel.StaffUpdateRefused as refused:
        messages.error(request, str(refused))
    return redirect("staff:update", pk=pk)


@require_POST
@system_admin_required
def confirm(request: HttpRequest, pk: int) -> HttpResponse:
    def decide(staff_update: StaffUpdate, actor: User) -> str:
        applied = personnel.staff_update_confirm(update=staff_update, actor=actor)
        return _("確定しました。異動日を迎えた %(n)d 件を適用し、残りは異動日に適用します。") % {"n": applied}

    return _decided(request, pk, decide)


@require_POST
@system_admin_required
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    def decide(staff_update: StaffUpdate, actor: User) -> str:
        personnel.staff_update_cancel(update=staff_update, actor=actor)
        return _("取り消しました。適用前の変更は適用されません。")

    return _decided(request, pk, decide)
