"""Celery tasks of staff accounts: thin wrappers around services."""

from celery import shared_task

from . import personnel


@shared_task(name="madoguchi.accounts.tasks.staff_changes_apply", acks_late=True)
def staff_changes_apply() -> int:
    return personnel.staff_changes_apply()
