"""Celery tasks of operations: thin wrappers around backup and retention."""

from celery import shared_task

from . import backup


@shared_task(name="madoguchi.operations.tasks.backup", acks_late=True)
def backup_nightly() -> str:
    made = backup.backup_create()
    backup.backup_verify(made.key)  # read back and checked, so a bad night is known the next morning
    backup.backups_prune()
    return made.key


@shared_task(name="madoguchi.operations.tasks.retention_purge", acks_late=True)
def retention_purge() -> dict[str, object]:
    from . import retention

    return retention.retention_purge()
