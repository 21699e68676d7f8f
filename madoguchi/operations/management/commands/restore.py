"""``python manage.py restore <key|latest>``: a backup back into the configured database and MEDIA_ROOT."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record
from madoguchi.operations import backup


class Command(BaseCommand):
    help = (
        "Restore a backup (its object key, or 'latest') into the configured database and MEDIA_ROOT. The database "
        "must be empty unless --replace. Needs the backup key it was made with, and the data key for sealed data."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key", help="the backup's object key (see `backup --list`), or 'latest'")
        parser.add_argument(
            "--replace", action="store_true", help="replace the tables of a database that is not empty"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            manifest = backup.backup_restore(options["key"], replace=options["replace"])
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        # Into the restored log: when, and which backup (the records after the backup's time are gone with it).
        audit_record(
            actor=None,
            action=AuditAction.IMPORT,
            target_type="backup",
            target_ref=options["key"],
            detail={"kind": "restored", "backup_created_at": manifest["created_at"]},
        )
        self.stdout.write(
            f"restored the backup of {manifest['created_at']} ({len(manifest['sha256'])} files); "
            "run `python manage.py migrate` if this version has newer migrations"
        )
