"""python manage.py render_form <template> --resident <宛名番号> --out <file.pdf>"""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from counters.selectors import form_context
from forms_engine.models import FormVersion
from forms_engine.rendering import FormRenderError, render_packet_pdf
from forms_engine.selectors import form_version_current, render_source
from forms_engine.services import form_fill
from integrations import selectors as mirror
from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record


class Command(BaseCommand):
    help = "Render a form for one resident to a PDF file (the command line's view of the counter's output)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("template", help="form code, e.g. juminido")
        parser.add_argument("--resident", required=True, help="宛名番号")
        parser.add_argument("--out", required=True, type=Path)

    def handle(self, *args: Any, template: str, resident: str, out: Path, **options: Any) -> None:
        person = mirror.resident_get(atena_no=resident)
        if person is None:
            raise CommandError(f"宛名番号 {resident}: no such resident")
        try:
            version = form_version_current(code=template)
        except FormVersion.DoesNotExist:
            raise CommandError(f"form {template!r}: no published version (run load_starter_forms?)") from None
        try:
            source = render_source(version=version)
            context = form_fill(spec=source.spec, context=form_context(resident=person, reception_no="CLI"))
            pdf = render_packet_pdf([(source, context)], reception_no="CLI")
        except FormRenderError as exc:
            raise CommandError(str(exc)) from exc
        out.write_bytes(pdf)
        audit_record(
            actor=None,
            action=AuditAction.PRINT,
            target_type="resident",
            target_ref=person.atena_no,
            detail={"form": template, "version": version.number, "via": "render_form"},
        )
        self.stdout.write(self.style.SUCCESS(f"{out}: {version} for {resident}, {len(pdf)} bytes"))
