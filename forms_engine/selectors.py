"""Reads of the forms engine."""

from __future__ import annotations

from .models import FormVersion, VersionStatus
from .rendering import RenderSource


def form_version_current(*, code: str) -> FormVersion:
    """The newest published version of the form ``code``; raises FormVersion.DoesNotExist if none."""
    return (
        FormVersion.objects.select_related("template")
        .filter(template__code=code, status=VersionStatus.PUBLISHED)
        .latest("number")
    )


def render_source(*, version: FormVersion) -> RenderSource:
    return RenderSource(
        code=version.template.code, body=version.body, css=version.css, csv_columns=version.csv_columns
    )
