"""Celery tasks of the integrations app: thin wrappers around services."""

from celery import shared_task

from . import services


@shared_task(name="integrations.tasks.inbound_pickup", acks_late=True)
def inbound_pickup() -> int:
    return services.inbound_pickup().applied


@shared_task(name="integrations.tasks.export_flush", acks_late=True)
def export_flush() -> list[str]:
    return services.export_flush()


@shared_task(name="integrations.tasks.export_results_pickup", acks_late=True)
def export_results_pickup() -> int:
    return services.export_results_pickup()


@shared_task(name="integrations.tasks.export_secrets_purge", acks_late=True)
def export_secrets_purge() -> int:
    return services.export_secrets_purge()
