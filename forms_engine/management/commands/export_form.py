from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from forms_engine.models import FormTemplate
from forms_engine.services import FormEditError, form_file_export


class Command(BaseCommand):
    help = (
        "Export a form (all versions, or those given with --version) with its background images as one file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("code")
        # Not --version: Django's commands answer that with their own version.
        parser.add_argument("--number", type=int, action="append", dest="numbers", help="版 (repeatable)")
        parser.add_argument("--out", type=Path, required=True)

    def handle(self, *args: Any, code: str, numbers: list[int] | None, out: Path, **options: Any) -> None:
        template = FormTemplate.objects.filter(code=code).first()
        if template is None:
            raise CommandError(f"form {code!r}: no such form")
        try:
            content = form_file_export(template=template, numbers=numbers, actor=None)
        except FormEditError as exc:
            raise CommandError(str(exc)) from None
        out.write_bytes(content)
        self.stdout.write(f"{out}: {code}, {len(content)} bytes")
