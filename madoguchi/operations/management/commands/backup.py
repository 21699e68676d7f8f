"""``python manage.py backup``: the database and files, encrypted, to object storage (operations/backup.py)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from madoguchi.operations import backup


class Command(BaseCommand):
    help = (
        "Back up the database and files, encrypted, to object storage; then delete backups past their days."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-migrations-pending",
            action="store_true",
            help="only when migrations are waiting to be applied (run it before `migrate` on every deploy)",
        )
        parser.add_argument("--list", action="store_true", help="list the stored backups and stop")
        parser.add_argument(
            "--verify",
            metavar="KEY",
            help="decrypt a stored backup (its key, or 'latest') and check every file against its manifest",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list"]:
            for key in backup.backups_list():
                self.stdout.write(key)
            return
        if options["verify"]:
            try:
                manifest = backup.backup_verify(options["verify"])
            except backup.BackupError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(
                f"backup intact: {manifest['created_at']}, {len(manifest['sha256'])} files checked"
            )
            return
        if options["if_migrations_pending"] and not backup.migrations_pending():
            self.stdout.write("no migrations pending: no backup needed")
            return
        try:
            made, pruned = backup.backup_run()
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        files = len(made.manifest["sha256"])
        self.stdout.write(f"backup stored and verified: {made.key} ({made.size:,} bytes, {files} files)")
        for key in pruned:
            self.stdout.write(f"deleted old backup: {key}")
