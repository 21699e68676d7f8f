"""python manage.py import_residents <path | s3://bucket/key | key>: load a 住民記録 v1 full snapshot."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.juki_import import ResidentFileRejected
from integrations.services import residents_import_snapshot
from integrations.storage import StorageError, storage_for_location


class Command(BaseCommand):
    help = (
        "Import a 住民記録 v1 full snapshot (a local path, s3://bucket/key, or a key of the object storage)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("location")

    def handle(self, *args: Any, location: str, **options: Any) -> None:
        storage, key = storage_for_location(location)
        source = storage.describe(key)
        try:
            data = storage.get(key)
        except StorageError as exc:
            raise CommandError(str(exc)) from exc
        try:
            result = residents_import_snapshot(data=data, source=source)
        except ResidentFileRejected as rejected:
            raise CommandError(str(rejected)) from rejected
        self.stdout.write(
            self.style.SUCCESS(
                f"{source}: imported {result.residents} residents in {result.households} households"
            )
        )
