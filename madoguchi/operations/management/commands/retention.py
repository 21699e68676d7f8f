"""``python manage.py retention``: how long each kind of personal data is kept; ``--purge`` erases what is due."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from madoguchi.operations import retention


class Command(BaseCommand):
    help = (
        "Show the retention of each kind of personal data (and its setting); --purge erases what is due now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--purge", action="store_true", help="run every kind's purge now")

    def handle(self, *args: Any, **options: Any) -> None:
        for kind in retention.KINDS:
            self.stdout.write(
                f"{kind.code:<20} {kind.value:>6} {kind.unit:<7} {kind.setting:<45} {kind.label}"
            )
        if options["purge"]:
            for code, result in retention.retention_purge().items():
                self.stdout.write(f"purged {code}: {result}")
