"""Celery tasks of operations: thin wrappers around backup and retention."""

from celery import shared_task

from . import backup


@shared_task(name="madoguchi.operations.tasks.backup", acks_late=True)
def backup_nightly() -> str:
    made, _pruned = backup.backup_run()
    return made.key


@shared_task(name="madoguchi.operations.tasks.retention_purge", acks_late=True)
def retention_purge() -> dict[str, object]:
    from . import retention

    return retention.retention_purge()
