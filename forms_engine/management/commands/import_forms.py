from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from forms_engine.management.commands.load_starter_forms import result_summary
from forms_engine.services import FormFileInvalid, form_file_import


class Command(BaseCommand):
    help = (
        "Import form files (madoguchi-form/2). A file with any problem is refused whole and changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path)

    def handle(self, *args: Any, files: list[Path], **options: Any) -> None:
        for path in files:
            try:
                result = form_file_import(content=path.read_bytes(), source=str(path), actor=None)
            except OSError as exc:
                raise CommandError(f"{path}: {exc.strerror}") from None
            except FormFileInvalid as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"{path}: {result.template.code}: {result_summary(result)}")
