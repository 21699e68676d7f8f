"""Celery tasks of the counters app: thin wrappers around services."""

from celery import shared_task

from . import services


@shared_task(name="counters.tasks.session_output", acks_late=True)
def session_output(session_id: int) -> str:
    return services.session_output_run(session_id=session_id)


@shared_task(name="counters.tasks.sessions_output_redispatch")
def sessions_output_redispatch() -> int:
    return services.sessions_output_redispatch()


@shared_task(name="counters.tasks.sessions_wipe_signatures")
def sessions_wipe_signatures() -> int:
    return services.sessions_wipe_signatures()
