"""Reads of the forms engine."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.utils import timezone

from .models import FormVersion, VersionStatus
from .rendering import RenderSource


def form_version_current(*, code: str, on: dt.date | None = None) -> FormVersion:
    """The newest published version of the form ``code`` in effect on ``on`` (default today);
    raises FormVersion.DoesNotExist if none."""
    day = on or timezone.localdate()
    return (
        FormVersion.objects.select_related("template")
        .filter(template__code=code, status=VersionStatus.PUBLISHED)
        .filter(Q(effective_from=None) | Q(effective_from__lte=day))
        .latest("number")
    )


def render_source(*, version: FormVersion) -> RenderSource:
    return RenderSource(
        code=version.template.code, body=version.body, css=version.css, csv_columns=version.csv_columns
    )
