"""The auditor's page (R-S3): search and filter the audit log, and export what was found as CSV."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from madoguchi.accounts.roles import Role, role_required
from madoguchi.moji.csvsafe import csv_lines

from .models import AuditAction, AuditEvent
from .services import audit_record

PER_PAGE = 50
CSV_HEADER = ["日時", "操作者", "操作", "対象種別", "対象", "詳細", "連鎖ハッシュ"]


class AuditFilterForm(forms.Form):
    since = forms.DateField(label=_("開始日"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("終了日"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    actor = forms.CharField(label=_("操作者"), required=False, max_length=150)
    action = forms.ChoiceField(
        label=_("操作"), required=False, choices=[("", _("すべて")), *AuditAction.choices]
    )
    target_type = forms.CharField(label=_("対象種別"), required=False, max_length=32)
    target_ref = forms.CharField(label=_("対象"), required=False, max_length=64)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError(_("開始日が終了日より後です。"))
        return data

    def used(self) -> list[str]:
        """The names of the filters given (what the audit record of a search keeps, never their values)."""
        return [name for name, value in self.cleaned_data.items() if value not in ("", None)]

    def events(self) -> QuerySet[AuditEvent]:
        data, events = self.cleaned_data, AuditEvent.objects.all()
        tz = timezone.get_current_timezone()
        if data.get("since"):
            events = events.filter(at__gte=dt.datetime.combine(data["since"], dt.time.min, tzinfo=tz))
        if data.get("until"):
            day_after = data["until"] + dt.timedelta(days=1)
            events = events.filter(at__lt=dt.datetime.combine(day_after, dt.time.min, tzinfo=tz))
        for name in ("actor", "action", "target_type", "target_ref"):
            if data.get(name):
                events = events.filter(**{"actor_label" if name == "actor" else name: data[name]})
        return events.order_by("-at", "-id")


@role_required(Role.AUDITOR)
def events(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    form = AuditFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return render(request, "audit/events.html", {"form": form, "page": None}, status=400)
    found = form.events() if form.is_bound else AuditEvent.objects.order_by("-at", "-id")
    used = form.used() if form.is_bound else []
    if request.GET.get("format") == "csv":
        total = found.count()
        audit_record(
            actor=request.user,
            action=AuditAction.EXPORT,
            target_type="audit_log",
            detail={"filters": used, "rows": total},
        )
        response = StreamingHttpResponse(_csv(found), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="audit-{timezone.localdate():%Y%m%d}.csv"'
        return response
    if used:
        audit_record(
            actor=request.user, action=AuditAction.SEARCH, target_type="audit_log", detail={"filters": used}
        )
    page = Paginator(found, PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "audit/events.html", {"form": form, "page": page, "query": query.urlencode()})


def _csv(found: QuerySet[AuditEvent]) -> Iterator[str]:
    """The events as CSV, a chunk at a time (UTF-8, CRLF; values as recorded — identifiers and login names)."""
    yield csv_lines([CSV_HEADER])
    labels = dict(AuditAction.choices)
    rows: list[list[str]] = []
    for event in found.iterator(chunk_size=2_000):
        rows.append(
            [
                timezone.localtime(event.at).isoformat(),
                event.actor_label,
                str(labels.get(event.action, event.action)),
                event.target_type,
                event.target_ref,
                _detail(event.detail),
                event.chain_hash,
            ]
        )
        if len(rows) == 2_000:
            yield csv_lines(rows)
            rows = []
    yield csv_lines(rows)


def _detail(detail: dict[str, Any]) -> str:
    return json.dumps(detail, ensure_ascii=False, sort_keys=True)
