from typing import Any

from django.core.management.base import BaseCommand

from forms_engine.services import form_starter_pack_load


class Command(BaseCommand):
    help = (
        "Load the field dictionary and the starter pack of forms (forms_engine/starter/*.json) through the form "
        "file import. Versions already here are kept."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        for result in form_starter_pack_load():
            self.stdout.write(f"{result.template.code}: {result_summary(result)}")


def result_summary(result: Any) -> str:
    created = ", ".join(f"v{n}" for n in result.created) or "-"
    unchanged = ", ".join(f"v{n}" for n in result.unchanged) or "-"
    return f"created {created}; already here {unchanged}"
