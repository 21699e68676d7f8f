"""python manage.py import_residents <path | s3://bucket/key | key> [--diff] [--mapping NAME]"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.juki_import import ResidentFileRejected
from integrations.models import ImportKind, ImportOrigin, ImportRun, Resident
from integrations.services import inbound_name, residents_import
from integrations.storage import StorageError, storage_for_location


class Command(BaseCommand):
    help = (
        "Import a 住民記録 v1 file: a full snapshot, or a difference (--diff, or a name JUKI_…_DIFF.csv). "
        "LOCATION is a local path, s3://bucket/key, or a key of the object storage."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("location")
        parser.add_argument("--diff", action="store_true", help="the file is a difference (処理区分 first)")
        parser.add_argument("--mapping", help="name of the column mapping of a vendor layout")

    def handle(self, *args: Any, location: str, diff: bool, mapping: str | None, **options: Any) -> None:
        storage, key = storage_for_location(location)
        named = inbound_name(key)
        kind = ImportKind.DIFF if diff or (named and named.kind == ImportKind.DIFF) else ImportKind.FULL
        try:
            result = residents_import(storage=storage, key=key, kind=kind, mapping=mapping)
        except ResidentFileRejected as rejected:
            report = (
                ImportRun.objects.filter(origin=ImportOrigin.COMMAND, key=key)
                .values_list("report_key", flat=True)
                .first()  # the newest: the ledger is ordered newest first
            )
            where = (
                f"\nreport: {storage.describe(report)}" if report else "\n(the report could not be written)"
            )
            raise CommandError(f"{rejected}{where}") from rejected
        except StorageError as exc:
            raise CommandError(str(exc)) from exc
        if kind == ImportKind.FULL:
            households = Resident.objects.values("setai_no").distinct().count()
            summary = f"imported {result.rows} residents in {households} households"
        else:
            counts = f"追加 {result.added}, 変更 {result.changed}, 消除 {result.removed}"
            summary = f"applied {result.rows} changes: {counts}"
        self.stdout.write(self.style.SUCCESS(f"{result.source}: {summary}"))
