"""Celery tasks of the audit log: thin wrappers around services."""

from celery import shared_task

from . import services


@shared_task(name="madoguchi.audit.tasks.audit_chain", acks_late=True)
def audit_chain() -> int:
    return services.audit_chain()


@shared_task(name="madoguchi.audit.tasks.audit_purge", acks_late=True)
def audit_purge() -> int:
    return services.audit_purge()
