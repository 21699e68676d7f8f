"""``python manage.py audit_verify``: prove the audit log's hash chain (R-S3)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from madoguchi.audit.services import audit_chain, audit_verify


class Command(BaseCommand):
    help = (
        "Chain the audit records not chained yet (unless --no-chain), then recompute the whole chain. Exits 1 "
        "naming the first record whose hash does not follow: changed, deleted or inserted after it was chained."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--no-chain", action="store_true", help="verify only; do not chain the newest records first"
        )

    def handle(self, *args: Any, no_chain: bool = False, **options: Any) -> None:
        if not no_chain:
            audit_chain()
        check = audit_verify()
        if not check.ok:
            raise CommandError(
                f"audit chain broken at record {check.broken_at}: {check.reason} "
                f"({check.verified} records before it verified)"
            )
        self.stdout.write(
            f"audit chain intact: {check.verified} records verified"
            + (f"; {check.unchained} newer records not chained yet" if check.unchained else "")
        )
