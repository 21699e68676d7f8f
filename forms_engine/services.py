"""Writes of the forms engine: loading form templates from their file format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.db import transaction

from .models import FormTemplate, FormVersion, VersionStatus

STARTER_DIR = Path(__file__).resolve().parent / "starter"
FORM_FILE_FORMAT = "madoguchi-form/1"


class FormFileInvalid(ValueError):
    """A form template file that cannot be loaded; the message names the file and the problem."""


def form_template_import(*, data: dict[str, Any], source: str) -> FormVersion:
    """Create the template and version described by ``data`` (the form file format, see docs/forms.md).

    A version that exists already is left as it is: a published version never changes.
    """
    if data.get("format") != FORM_FILE_FORMAT:
        raise FormFileInvalid(f"{source}: format must be {FORM_FILE_FORMAT!r}, not {data.get('format')!r}")
    try:
        code, name, version = data["code"], data["name"], data["version"]
        number, body = int(version["number"]), str(version["body"])
        status = VersionStatus(version.get("status", VersionStatus.PUBLISHED))
    except (KeyError, TypeError, ValueError) as exc:
        raise FormFileInvalid(f"{source}: missing or invalid key {exc}") from exc
    with transaction.atomic():
        template, _ = FormTemplate.objects.get_or_create(code=code, defaults={"name": name})
        existing = template.versions.filter(number=number).first()
        if existing is not None:
            return existing
        return FormVersion.objects.create(
            template=template,
            number=number,
            status=status,
            effective_from=version.get("effective_from"),
            body=body,
            css=str(version.get("css", "")),
            csv_columns=version.get("csv_columns", []),
        )


def form_starter_pack_load() -> list[FormVersion]:
    """Load every form of the starter pack (forms_engine/starter/*.json) through the import path."""
    versions = []
    for path in sorted(STARTER_DIR.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise FormFileInvalid(f"{path}: not valid JSON: {exc}") from exc
        versions.append(form_template_import(data=data, source=str(path)))
    return versions
