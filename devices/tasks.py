"""Celery tasks of the devices app (server side)."""

from celery import shared_task

from . import services


@shared_task(name="devices.tasks.print_jobs_redispatch")
def print_jobs_redispatch() -> int:
    return services.print_jobs_redispatch()


@shared_task(name="devices.tasks.print_jobs_purge")
def print_jobs_purge() -> int:
    return services.print_jobs_purge()


@shared_task(name="devices.tasks.agent_records_purge")
def agent_records_purge() -> tuple[int, int]:
    return services.agent_records_purge()
