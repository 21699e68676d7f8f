from typing import Any

from django.core.management.base import BaseCommand

from forms_engine.services import form_starter_pack_load


class Command(BaseCommand):
    help = "Load the starter pack of forms (forms_engine/starter/*.json). Existing versions are kept."

    def handle(self, *args: Any, **options: Any) -> None:
        for version in form_starter_pack_load():
            self.stdout.write(f"{version}: {version.get_status_display()}")
