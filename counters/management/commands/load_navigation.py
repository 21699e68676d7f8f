"""python manage.py load_navigation: the 手続ナビ seed (counters/navigation.json). Safe to run again."""

from typing import Any

from django.core.management.base import BaseCommand

from counters.navigation import navigation_seed_load, procedure_forms_missing


class Command(BaseCommand):
    help = (
        "Load the 手続ナビ seed (counters/navigation.json): counter groups, life events, questions, procedures and "
        "their rules that are missing by code. Rows already here, and a city's edits, are kept."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        created = navigation_seed_load()
        self.stdout.write("navigation: created " + ", ".join(f"{kind} {n}" for kind, n in created.items()))
        for procedure, forms in procedure_forms_missing().items():
            self.stderr.write(
                self.style.WARNING(f"procedure {procedure}: no form {', '.join(forms)} (load_starter_forms?)")
            )
